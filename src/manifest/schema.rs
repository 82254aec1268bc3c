//! The field names each kind accepts, to find misspelled fields in manifest files: serde ignores
//! a key it does not know, so `bindngs:` would silently mean "no bindings".
//!
//! The lists mirror upstream's Go types (`pkg/apis/triggers/v1beta1` and `v1alpha1`
//! `*_types.go`, both versions' names, deprecated ones included: `podTemplate`, `replicas`,
//! the inline `github:`/`gitlab:`/`bitbucket:`/`cel:` interceptors, …), plus `template.name`,
//! which upstream's docs show. Free-form places (labels, annotations, resource templates, param
//! values, Secret data, pod specs, status) are not looked into. Only files are checked: in
//! cluster mode the API server has already pruned unknown fields.

use serde_json::Value;

use super::positions::{FieldPath, Segment};
use crate::api::KnownKind;

/// What a value may hold.
#[derive(Debug)]
enum Shape {
    /// Anything; not looked into.
    Free,
    /// A mapping with these keys.
    Object(&'static [(&'static str, Shape)]),
    /// A list of these.
    List(&'static Shape),
}

use Shape::{Free, List, Object};

const OBJECT_META: Shape = Object(&[
    ("name", Free),
    ("generateName", Free),
    ("namespace", Free),
    ("selfLink", Free),
    ("uid", Free),
    ("resourceVersion", Free),
    ("generation", Free),
    ("creationTimestamp", Free),
    ("deletionTimestamp", Free),
    ("deletionGracePeriodSeconds", Free),
    ("labels", Free),
    ("annotations", Free),
    ("ownerReferences", Free),
    ("finalizers", Free),
    ("managedFields", Free),
]);

const PARAM: Shape = Object(&[("name", Free), ("value", Free)]);

const PARAM_SPEC: Shape = Object(&[("name", Free), ("description", Free), ("default", Free)]);

const TEMPLATE_SPEC: Shape = Object(&[("params", List(&PARAM_SPEC)), ("resourcetemplates", Free)]);

const SECRET_REF: Shape = Object(&[("secretKey", Free), ("secretName", Free)]);

const LEGACY_SECRET_INTERCEPTOR: Shape = Object(&[("secretRef", SECRET_REF), ("eventTypes", Free)]);

const INTERCEPTOR: Shape = Object(&[
    ("name", Free),
    (
        "ref",
        Object(&[("name", Free), ("kind", Free), ("apiVersion", Free)]),
    ),
    ("params", List(&PARAM)),
    (
        "webhook",
        Object(&[("objectRef", Free), ("url", Free), ("header", List(&PARAM))]),
    ),
    ("github", LEGACY_SECRET_INTERCEPTOR),
    ("gitlab", LEGACY_SECRET_INTERCEPTOR),
    ("bitbucket", LEGACY_SECRET_INTERCEPTOR),
    (
        "cel",
        Object(&[
            ("filter", Free),
            (
                "overlays",
                List(&Object(&[("key", Free), ("expression", Free)])),
            ),
        ]),
    ),
]);

const BINDING: Shape = Object(&[
    ("name", Free),
    ("value", Free),
    ("ref", Free),
    ("kind", Free),
    ("apiversion", Free),
]);

const TEMPLATE: Shape = Object(&[
    ("ref", Free),
    ("name", Free),
    ("apiversion", Free),
    ("spec", TEMPLATE_SPEC),
]);

const TRIGGER_SPEC_FIELDS: &[(&str, Shape)] = &[
    ("bindings", List(&BINDING)),
    ("template", TEMPLATE),
    ("name", Free),
    ("interceptors", List(&INTERCEPTOR)),
    ("serviceAccountName", Free),
];

const NAMESPACE_SELECTOR: Shape = Object(&[("matchNames", Free)]);

const LABEL_SELECTOR: Shape = Object(&[
    ("matchLabels", Free),
    (
        "matchExpressions",
        List(&Object(&[
            ("key", Free),
            ("operator", Free),
            ("values", Free),
        ])),
    ),
]);

const EL_TRIGGER: Shape = Object(&[
    ("bindings", List(&BINDING)),
    ("template", TEMPLATE),
    ("triggerRef", Free),
    ("name", Free),
    ("interceptors", List(&INTERCEPTOR)),
    ("serviceAccountName", Free),
]);

const EL_SPEC: Shape = Object(&[
    ("serviceAccountName", Free),
    ("triggers", List(&EL_TRIGGER)),
    (
        "triggerGroups",
        List(&Object(&[
            ("name", Free),
            ("interceptors", List(&INTERCEPTOR)),
            (
                "triggerSelector",
                Object(&[
                    ("namespaceSelector", NAMESPACE_SELECTOR),
                    ("labelSelector", LABEL_SELECTOR),
                ]),
            ),
        ])),
    ),
    ("namespaceSelector", NAMESPACE_SELECTOR),
    ("labelSelector", LABEL_SELECTOR),
    (
        "resources",
        Object(&[
            (
                "kubernetesResource",
                Object(&[
                    ("replicas", Free),
                    ("serviceType", Free),
                    ("servicePort", Free),
                    ("serviceLoadBalancerClass", Free),
                    ("spec", Free),
                ]),
            ),
            ("customResource", Free),
        ]),
    ),
    ("cloudEventURI", Free),
    // Early v1alpha1 fields, still found in old manifests.
    ("podTemplate", Free),
    ("replicas", Free),
    ("serviceType", Free),
]);

const EVENT_LISTENER: Shape = Object(&[
    ("apiVersion", Free),
    ("kind", Free),
    ("metadata", OBJECT_META),
    ("spec", EL_SPEC),
    ("status", Free),
]);

const TRIGGER: Shape = Object(&[
    ("apiVersion", Free),
    ("kind", Free),
    ("metadata", OBJECT_META),
    ("spec", Object(TRIGGER_SPEC_FIELDS)),
]);

const TRIGGER_BINDING: Shape = Object(&[
    ("apiVersion", Free),
    ("kind", Free),
    ("metadata", OBJECT_META),
    ("spec", Object(&[("params", List(&PARAM))])),
    ("status", Free),
]);

const TRIGGER_TEMPLATE: Shape = Object(&[
    ("apiVersion", Free),
    ("kind", Free),
    ("metadata", OBJECT_META),
    ("spec", TEMPLATE_SPEC),
    ("status", Free),
]);

const SECRET: Shape = Object(&[
    ("apiVersion", Free),
    ("kind", Free),
    ("metadata", OBJECT_META),
    ("data", Free),
    ("stringData", Free),
    ("type", Free),
    ("immutable", Free),
]);

const INTERCEPTOR_KIND: Shape = Object(&[
    ("apiVersion", Free),
    ("kind", Free),
    ("metadata", OBJECT_META),
    (
        "spec",
        Object(&[(
            "clientConfig",
            Object(&[
                ("caBundle", Free),
                ("url", Free),
                (
                    "service",
                    Object(&[
                        ("name", Free),
                        ("namespace", Free),
                        ("path", Free),
                        ("port", Free),
                    ]),
                ),
            ]),
        )]),
    ),
    ("status", Free),
]);

/// A key of a known kind that the kind does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    /// Path of the key, e.g. `spec.triggers[0].bindngs`.
    pub path: FieldPath,
    /// The key as written.
    pub key: String,
    /// The closest known key at that place, when one is close enough.
    pub suggestion: Option<&'static str>,
}

/// Every unknown key of `document`, a `kind` object, in document order.
pub fn unknown_fields(kind: KnownKind, document: &Value) -> Vec<UnknownField> {
    let shape = match kind {
        KnownKind::EventListener => &EVENT_LISTENER,
        KnownKind::Trigger => &TRIGGER,
        KnownKind::TriggerBinding | KnownKind::ClusterTriggerBinding => &TRIGGER_BINDING,
        KnownKind::TriggerTemplate => &TRIGGER_TEMPLATE,
        KnownKind::Secret => &SECRET,
        KnownKind::ClusterInterceptor | KnownKind::Interceptor => &INTERCEPTOR_KIND,
    };
    let mut found = Vec::new();
    walk(shape, document, &mut Vec::new(), &mut found);
    found
}

fn walk(shape: &Shape, value: &Value, path: &mut Vec<Segment>, found: &mut Vec<UnknownField>) {
    match (shape, value) {
        (Object(fields), Value::Object(map)) => {
            for (key, child) in map {
                path.push(Segment::Key(key.clone()));
                match fields.iter().find(|(name, _)| name == key) {
                    Some((_, inner)) => walk(inner, child, path, found),
                    None => found.push(UnknownField {
                        path: FieldPath(path.clone()),
                        key: key.clone(),
                        suggestion: closest(key, fields.iter().map(|(name, _)| *name)),
                    }),
                }
                path.pop();
            }
        }
        (List(item), Value::Array(items)) => {
            for (i, child) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                walk(item, child, path, found);
                path.pop();
            }
        }
        // Free places, and values of the wrong type (the typed read reports those).
        _ => {}
    }
}

/// The known name closest to `key` (case-insensitive edit distance), if within a third of its
/// length (at least 1, at most 3 edits): `bindngs` → `bindings`, `serviceAccount` →
/// `serviceAccountName` is too far and gets no suggestion.
fn closest(key: &str, known: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    let lower = key.to_lowercase();
    let limit = (key.chars().count() / 3).clamp(1, 3);
    known
        .map(|name| {
            (
                strsim::damerau_levenshtein(&lower, &name.to_lowercase()),
                name,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths(kind: KnownKind, doc: &Value) -> Vec<(String, Option<&'static str>)> {
        unknown_fields(kind, doc)
            .into_iter()
            .map(|u| (u.path.to_string(), u.suggestion))
            .collect()
    }

    #[test]
    fn unknown_fields_at_every_depth_with_a_suggestion() {
        let el = json!({
            "apiVersion": "triggers.tekton.dev/v1beta1", "kind": "EventListener",
            "metadata": {"name": "el", "labelz": {}},
            "spec": {
                "triggers": [{
                    "name": "t",
                    "bindngs": [],
                    "interceptors": [{"ref": {"name": "cel"}, "params": [{"name": "filter", "vaule": "x"}]}],
                    "template": {"ref": "t", "spec": {"params": [{"name": "p", "defualt": "1"}]}}
                }],
                "totallyDifferent": 1
            }
        });
        assert_eq!(
            paths(KnownKind::EventListener, &el),
            vec![
                ("metadata.labelz".to_owned(), Some("labels")),
                ("spec.totallyDifferent".to_owned(), None),
                ("spec.triggers[0].bindngs".to_owned(), Some("bindings")),
                (
                    "spec.triggers[0].interceptors[0].params[0].vaule".to_owned(),
                    Some("value")
                ),
                (
                    "spec.triggers[0].template.spec.params[0].defualt".to_owned(),
                    Some("default")
                ),
            ]
        );
        let trigger = json!({"apiVersion": "v", "kind": "Trigger", "metadata": {"name": "t"},
            "spec": {"interceptors": [{"github": {"secretRef": {"secretNam": "s"}}}]}});
        assert_eq!(
            paths(KnownKind::Trigger, &trigger),
            vec![(
                "spec.interceptors[0].github.secretRef.secretNam".to_owned(),
                Some("secretName")
            )]
        );
    }

    #[test]
    fn deprecated_names_and_free_places_are_accepted() {
        let el = json!({
            "apiVersion": "triggers.tekton.dev/v1alpha1", "kind": "EventListener",
            "metadata": {"name": "el", "labels": {"any": "x"}, "annotations": {"a/b": "c"}},
            "spec": {
                "serviceAccountName": "sa", "podTemplate": {"nodeSelector": {}}, "replicas": 2,
                "namespaceSelector": {"matchNames": ["*"]},
                "labelSelector": {"matchLabels": {"x": "y"}, "matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}]},
                "triggerGroups": [{"name": "g", "interceptors": [], "triggerSelector": {"labelSelector": {}}}],
                "resources": {"kubernetesResource": {"replicas": 1, "spec": {"template": {"anything": 1}}}, "customResource": {"x": 1}},
                "cloudEventURI": "http://x",
                "triggers": [
                    {"triggerRef": "t"},
                    {"name": "i", "serviceAccountName": "sa",
                     "bindings": [{"ref": "b", "kind": "ClusterTriggerBinding", "apiversion": "v1alpha1"}, {"name": "n", "value": "v"}],
                     "template": {"name": "tt", "apiversion": "v1alpha1"},
                     "interceptors": [
                        {"github": {"secretRef": {"secretName": "s", "secretKey": "k"}, "eventTypes": ["push"]}},
                        {"gitlab": {}}, {"bitbucket": {}},
                        {"cel": {"filter": "true", "overlays": [{"key": "k", "expression": "1"}]}},
                        {"webhook": {"objectRef": {"kind": "Service", "whatever": 1}, "header": [{"name": "h", "value": "v"}]}},
                        {"name": "n", "ref": {"name": "cel", "kind": "ClusterInterceptor", "apiVersion": "x"},
                         "params": [{"name": "overlays", "value": [{"free": "form"}]}]}
                     ]}
                ]
            },
            "status": {"address": {"url": "x"}, "anything": 1}
        });
        assert_eq!(paths(KnownKind::EventListener, &el), vec![]);
        let template = json!({"apiVersion": "v", "kind": "TriggerTemplate", "metadata": {"name": "t"},
            "spec": {"params": [{"name": "p", "description": "d", "default": "x"}],
                     "resourcetemplates": [{"apiVersion": "v1", "kind": "ConfigMap", "unknownToUs": 1}]}});
        assert_eq!(paths(KnownKind::TriggerTemplate, &template), vec![]);
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "type": "Opaque", "data": {"anyKey": "eA=="}, "stringData": {"other": "x"}});
        assert_eq!(paths(KnownKind::Secret, &secret), vec![]);
        let secret_typo = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "stringdata": {"other": "x"}});
        assert_eq!(
            paths(KnownKind::Secret, &secret_typo),
            vec![("stringdata".to_owned(), Some("stringData"))]
        );
    }
}

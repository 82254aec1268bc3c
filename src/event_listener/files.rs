//! Loading an EventListener from manifests (`serve -f`, `validate`, `triggerrun`), and the
//! build step cluster mode shares.

use std::path::PathBuf;
use std::sync::Arc;

use super::{DEFAULT_NAMESPACE, Listener, PAYLOAD_VALIDATION_ANNOTATION};
use crate::manifest::{self, Catalog, namespace_of};
use crate::secrets::{ManifestSecrets, SecretStore};
use crate::trigger::{ResolveError, ResolveOptions, ResolvedTrigger, resolve, resolve_each};

/// What to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Files and directories (`-f`).
    pub paths: Vec<PathBuf>,
    /// EventListener name (`--listener`); needed when the manifests hold several.
    pub listener: Option<String>,
    /// Namespace (`--namespace`) for objects that name none; default: the EventListener's, else
    /// `default`.
    pub namespace: Option<String>,
    /// Cluster mode (`--require-trigger-service-account`): a Trigger selected from another
    /// namespace than the EventListener's is left out (and reported, as a broken trigger) unless
    /// it names a `serviceAccountName` (of its own namespace) whose rights create its objects;
    /// otherwise such a trigger creates with the listener's rights, and a warning says so once.
    pub require_trigger_service_account: bool,
    /// Where the github interceptor's `addChangedFiles` and `githubOwners` call the GitHub API
    /// (`--github-api-url`; default GitHub.com, or the `X-Github-Enterprise-Host` of an event).
    pub github_api: crate::github_api::Endpoint,
    /// Deadline of each call to a ClusterInterceptor or Interceptor (`serve
    /// --interceptor-timeout`); `None`: [`crate::interceptors::webhook::DEFAULT_TIMEOUT`].
    pub interceptor_timeout: Option<std::time::Duration>,
}

/// Start-up failures; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A manifest could not be read.
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
    /// No EventListener in the manifests.
    #[error("no EventListener found in the manifests")]
    NoListener,
    /// Several EventListeners and no `--listener`.
    #[error("several EventListeners found ({}); choose one with --listener", .0.join(", "))]
    Ambiguous(Vec<String>),
    /// `--listener` names none of them.
    #[error("EventListener {name:?} not found; found: {}", candidates.join(", "))]
    NotFound {
        /// The name asked for.
        name: String,
        /// Names found.
        candidates: Vec<String>,
    },
    /// `--namespace` disagrees with the EventListener's own namespace.
    #[error("EventListener {name} is in namespace {manifest} but --namespace is {flag}")]
    NamespaceConflict {
        /// EventListener name.
        name: String,
        /// Namespace in the manifest.
        manifest: String,
        /// `--namespace`.
        flag: String,
    },
    /// `spec.cloudEventURI` is not an absolute `http` or `https` URL.
    #[error("EventListener {name}: spec.cloudEventURI {uri:?}: {source}")]
    CloudEventUri {
        /// EventListener name.
        name: String,
        /// The value.
        uri: String,
        /// Why it cannot be used.
        source: crate::cloud_events::UriError,
    },
    /// The `tekton.dev/payload-validation` annotation is neither `"true"` nor `"false"`
    /// (upstream's webhook refuses such an EventListener, `pkg/apis/triggers/validation.go`).
    #[error(
        "EventListener {name}: metadata.annotations: {PAYLOAD_VALIDATION_ANNOTATION} annotation must have value 'true' or 'false', not {value:?}"
    )]
    PayloadValidation {
        /// EventListener name.
        name: String,
        /// The value found.
        value: String,
    },
    /// A Secret manifest is unusable.
    #[error("{origin}: {source}")]
    Secret {
        /// Where.
        origin: manifest::Origin,
        /// Why.
        source: crate::secrets::Error,
    },
    /// Triggers that do not resolve; every problem is listed.
    #[error("EventListener {listener}: {} problem(s):\n  {}", errors.len(),
        errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Triggers {
        /// EventListener name.
        listener: String,
        /// Every problem.
        errors: Vec<ResolveError>,
    },
}

impl Listener {
    /// Reads the manifests and builds the listener.
    ///
    /// # Errors
    /// [`LoadError`].
    pub fn load(options: &LoadOptions) -> Result<Self, LoadError> {
        let catalog = manifest::load(&options.paths)?;
        Self::from_catalog(&catalog, options)
    }

    /// Builds the listener from already read manifests.
    ///
    /// # Errors
    /// [`LoadError`] except `Manifest`.
    pub fn from_catalog(catalog: &Catalog, options: &LoadOptions) -> Result<Self, LoadError> {
        let names: Vec<String> = catalog
            .event_listeners
            .iter()
            .map(|l| l.object.metadata.name.clone())
            .collect();
        let chosen = match &options.listener {
            Some(name) => catalog
                .event_listeners
                .iter()
                .find(|l| l.object.metadata.name == *name)
                .ok_or_else(|| LoadError::NotFound {
                    name: name.clone(),
                    candidates: names.clone(),
                })?,
            None => match catalog.event_listeners.as_slice() {
                [] => return Err(LoadError::NoListener),
                [one] => one,
                _ => return Err(LoadError::Ambiguous(names)),
            },
        };
        Self::build(&chosen.object, catalog, options, None, Mode::Strict)
    }

    /// Like [`Listener::from_catalog`], with Secrets read from `secrets` instead of the catalog's
    /// Secret manifests (cluster mode), and per trigger: a trigger whose references are missing
    /// or invalid is left out and its problems listed in [`Listener::broken`]; the others serve.
    ///
    /// # Errors
    /// As [`Listener::from_catalog`], except [`LoadError::Triggers`].
    pub fn from_catalog_with_secrets(
        catalog: &Catalog,
        options: &LoadOptions,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Self, LoadError> {
        let name = options.listener.as_deref().unwrap_or_default();
        let chosen = catalog
            .event_listeners
            .iter()
            .find(|l| l.object.metadata.name == name)
            .ok_or_else(|| LoadError::NotFound {
                name: name.to_owned(),
                candidates: catalog
                    .event_listeners
                    .iter()
                    .map(|l| l.object.metadata.name.clone())
                    .collect(),
            })?;
        Self::build(
            &chosen.object,
            catalog,
            options,
            Some(secrets),
            Mode::LeaveBrokenOut,
        )
    }

    /// Builds a listener running every Trigger of the catalog (for `triggerrun`, whose files
    /// hold Triggers but no EventListener), named `triggerrun`, in `--namespace`, else the first
    /// Trigger's namespace, else `default`.
    ///
    /// # Errors
    /// [`LoadError::NoListener`] when the catalog holds no Trigger either; else as
    /// [`Listener::from_catalog`].
    pub fn from_triggers(catalog: &Catalog, options: &LoadOptions) -> Result<Self, LoadError> {
        let first = catalog.triggers.first().ok_or(LoadError::NoListener)?;
        let namespace = options
            .namespace
            .clone()
            .or_else(|| first.object.metadata.namespace.clone())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        let el = crate::api::EventListener {
            metadata: crate::api::ObjectMeta {
                name: "triggerrun".into(),
                namespace: Some(namespace),
                ..Default::default()
            },
            spec: crate::api::EventListenerSpec {
                triggers: catalog
                    .triggers
                    .iter()
                    .map(|t| crate::api::EventListenerTrigger {
                        trigger_ref: Some(t.object.metadata.name.clone()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
        };
        Self::build(
            &el,
            catalog,
            &LoadOptions {
                namespace: None,
                ..options.clone()
            },
            None,
            Mode::Strict,
        )
    }

    fn build(
        el: &crate::api::EventListener,
        catalog: &Catalog,
        options: &LoadOptions,
        secrets: Option<Arc<dyn SecretStore>>,
        mode: Mode,
    ) -> Result<Self, LoadError> {
        let namespace = match (&options.namespace, el.metadata.namespace.as_deref()) {
            (Some(flag), Some(own)) if !own.is_empty() && own != flag => {
                return Err(LoadError::NamespaceConflict {
                    name: el.metadata.name.clone(),
                    manifest: own.to_owned(),
                    flag: flag.clone(),
                });
            }
            (Some(flag), _) => flag.clone(),
            (None, Some(own)) if !own.is_empty() => own.to_owned(),
            _ => DEFAULT_NAMESPACE.to_owned(),
        };
        let cloud_event_uri = match el.spec.cloud_event_uri.as_deref() {
            None | Some("") => None,
            Some(uri) => Some(crate::cloud_events::check_uri(uri).map_err(|source| {
                LoadError::CloudEventUri {
                    name: el.metadata.name.clone(),
                    uri: uri.to_owned(),
                    source,
                }
            })?),
        };
        let payload_validation = payload_validation(el, mode)?;

        let secrets = match secrets {
            Some(store) => store,
            None => {
                let mut store = ManifestSecrets::new();
                for s in &catalog.secrets {
                    store
                        .insert(namespace_of(&s.object.metadata, &namespace), &s.object)
                        .map_err(|source| LoadError::Secret {
                            origin: s.origin.clone(),
                            source,
                        })?;
                }
                Arc::new(store) as Arc<dyn SecretStore>
            }
        };
        let resolve_options = ResolveOptions {
            interceptor_timeout: options
                .interceptor_timeout
                .unwrap_or(crate::interceptors::webhook::DEFAULT_TIMEOUT),
            github_api: options.github_api.clone(),
        };
        let (triggers, broken) = match mode {
            Mode::Strict => {
                let triggers = resolve(el, &namespace, catalog, &secrets, &resolve_options)
                    .map_err(|errors| LoadError::Triggers {
                        listener: el.metadata.name.clone(),
                        errors,
                    })?;
                (triggers, Vec::new())
            }
            Mode::LeaveBrokenOut => {
                resolve_each(el, &namespace, catalog, &secrets, &resolve_options)
            }
        };
        Ok(Self {
            broken,
            name: el.metadata.name.clone(),
            namespace,
            uid: el.metadata.uid.clone().unwrap_or_default(),
            cel_reads: Arc::new(cel_reads(&triggers)),
            body_paths: Arc::new(body_paths(&triggers)),
            trigger_groups: triggers
                .iter()
                .filter_map(|t| t.group.as_ref().map(|g| g.index + 1))
                .max()
                .unwrap_or(0),
            triggers: triggers.into_iter().map(Arc::new).collect(),
            cloud_event_uri,
            payload_validation,
        })
    }
}

/// The EventListener's `tekton.dev/payload-validation` annotation: only `"false"` turns the
/// validation off, as upstream's controller reads it (`--payload-validation=false`). Any value
/// but `"true"`/`"false"` is refused in [`Mode::Strict`], as upstream's webhook refuses the
/// object; in cluster mode (where the API server already holds the object) it is logged and
/// read as the controller reads it: validation on.
fn payload_validation(el: &crate::api::EventListener, mode: Mode) -> Result<bool, LoadError> {
    match el
        .metadata
        .annotations
        .get(PAYLOAD_VALIDATION_ANNOTATION)
        .map(String::as_str)
    {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => {
            let error = LoadError::PayloadValidation {
                name: el.metadata.name.clone(),
                value: other.to_owned(),
            };
            if mode == Mode::Strict {
                return Err(error);
            }
            tracing::warn!(error = %error, "payload validation stays on");
            Ok(true)
        }
    }
}

/// What to do with a trigger that does not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Refuse the whole configuration (file mode, `validate`, `triggerrun`).
    Strict,
    /// Leave that trigger out and serve the others (cluster mode: one team's broken Trigger
    /// must not take every other team's down).
    LeaveBrokenOut,
}

/// The union of what every interceptor of every trigger (and of its trigger group) reads as CEL
/// data.
fn cel_reads(triggers: &[ResolvedTrigger]) -> crate::cel::Reads {
    let mut reads = crate::cel::Reads::none();
    for trigger in triggers {
        let group = trigger.group.iter().flat_map(|g| &g.interceptors);
        for interceptor in trigger.interceptors.iter().chain(group) {
            reads.merge(&interceptor.cel_reads());
        }
    }
    reads
}

/// What anything of the triggers reads of the body: their CEL expressions, binding params and
/// cancel keys and orders.
fn body_paths(triggers: &[ResolvedTrigger]) -> crate::event::BodyPaths {
    let mut paths = cel_reads(triggers).body;
    for (_, param) in triggers.iter().flat_map(|t| &t.params) {
        paths.merge(&param.body_paths());
    }
    for cancel in triggers.iter().filter_map(|t| t.cancel.as_ref()) {
        paths.merge(&cancel.body_paths());
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    const BINDING_AND_TEMPLATE: &str = "
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerBinding
metadata:
  name: b
spec:
  params:
    - name: sha
      value: $(body.sha)
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata:
  name: t
spec:
  params:
    - name: sha
  resourcetemplates:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        generateName: c-
      data:
        sha: $(tt.params.sha)
";

    fn el(name: &str, namespace: Option<&str>, trigger: &str) -> String {
        let ns = namespace
            .map(|n| format!("\n  namespace: {n}"))
            .unwrap_or_default();
        format!(
            "---\napiVersion: triggers.tekton.dev/v1beta1\nkind: EventListener\nmetadata:\n  name: {name}{ns}\nspec:\n  triggers:\n{trigger}\n"
        )
    }

    const GOOD_TRIGGER: &str =
        "    - name: ok\n      bindings:\n        - ref: b\n      template:\n        ref: t";

    fn load(yaml: &str, options: LoadOptions) -> Result<Listener, LoadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("all.yaml");
        std::fs::write(&path, yaml).unwrap();
        Listener::load(&LoadOptions {
            paths: vec![path],
            ..options
        })
    }

    #[test]
    fn the_only_listener_is_chosen_in_its_namespace() {
        let yaml = format!("{BINDING_AND_TEMPLATE}{}", el("el", None, GOOD_TRIGGER));
        let l = load(&yaml, LoadOptions::default()).unwrap();
        assert_eq!((l.name.as_str(), l.namespace.as_str()), ("el", "default"));
        assert_eq!(l.triggers[0].name, "ok");
        let l = load(
            &yaml,
            LoadOptions {
                namespace: Some("ci".into()),
                ..LoadOptions::default()
            },
        )
        .unwrap();
        assert_eq!(l.namespace, "ci");
        assert_eq!(l.triggers[0].namespace, "ci");
    }

    #[test]
    fn a_trigger_group_needs_an_interceptor_and_a_selector_and_selects_by_label() {
        let trigger = |name: &str, labels: &str| {
            format!(
                "---\napiVersion: triggers.tekton.dev/v1beta1\nkind: Trigger\nmetadata:\n  name: {name}\n  labels: {labels}\nspec:\n  bindings:\n    - ref: b\n  template:\n    ref: t\n"
            )
        };
        let group = |body: &str| {
            format!(
                "{BINDING_AND_TEMPLATE}{}{}---\napiVersion: triggers.tekton.dev/v1beta1\nkind: EventListener\nmetadata:\n  name: el\nspec:\n  triggerGroups:\n    - name: g\n{body}",
                trigger("in", "{team: a}"),
                trigger("out", "{team: b}")
            )
        };
        let err = load(&group("      interceptors: []\n"), LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "spec.triggerGroups[0].interceptors: a trigger group needs at least one interceptor"
            ),
            "{err}"
        );
        assert!(
            err.contains("spec.triggerGroups[0].triggerSelector: a trigger group needs a labelSelector or a namespaceSelector"),
            "{err}"
        );
        let l = load(
            &group("      interceptors:\n        - cel:\n            filter: body.sha != '' && header.match('x-group', 'g')\n      triggerSelector:\n        labelSelector:\n          matchLabels: {team: a}\n"),
            LoadOptions::default(),
        )
        .unwrap();
        let names: Vec<(&str, Option<&str>)> = l
            .triggers
            .iter()
            .map(|t| (t.name.as_str(), t.group.as_ref().map(|g| g.name.as_str())))
            .collect();
        assert_eq!(names, [("in", Some("g"))]);
        // What the group's CEL reads is built for the events too.
        assert!(!l.cel_reads.body.is_whole());
        assert_ne!(l.cel_reads.body, crate::cel::BodyPaths::none());
        assert!(!l.cel_reads.headers.is_all());
        assert_eq!(l.cel_reads.headers.names().collect::<Vec<_>>(), ["X-Group"]);
    }

    #[test]
    fn several_listeners_need_a_name() {
        let yaml = format!(
            "{BINDING_AND_TEMPLATE}{}{}",
            el("a", None, GOOD_TRIGGER),
            el("b", None, GOOD_TRIGGER)
        );
        let err = load(&yaml, LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("a, b") && err.contains("--listener"), "{err}");
        let l = load(
            &yaml,
            LoadOptions {
                listener: Some("b".into()),
                ..LoadOptions::default()
            },
        )
        .unwrap();
        assert_eq!(l.name, "b");
        let err = load(
            &yaml,
            LoadOptions {
                listener: Some("c".into()),
                ..LoadOptions::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, LoadError::NotFound { .. }), "{err}");
    }

    #[test]
    fn namespace_flag_must_agree_with_the_manifest() {
        let yaml = format!(
            "{BINDING_AND_TEMPLATE}{}",
            el("el", Some("prod"), GOOD_TRIGGER)
        );
        let err = load(
            &yaml,
            LoadOptions {
                namespace: Some("ci".into()),
                ..LoadOptions::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, LoadError::NamespaceConflict { .. }), "{err}");
    }

    #[test]
    fn every_bad_reference_is_reported_at_once() {
        let triggers = "    - name: one\n      bindings:\n        - ref: missing-binding\n      template:\n        ref: t\n    - name: two\n      bindings:\n        - ref: b\n      template:\n        ref: missing-template\n    - name: three\n      interceptors:\n        - github:\n            secretRef:\n              secretName: missing-secret\n              secretKey: k\n      bindings:\n        - ref: b\n      template:\n        ref: t\n    - name: four\n      interceptors:\n        - cel:\n            filter: \"body.a == \"\n      bindings:\n        - ref: b\n        - name: sha\n          value: x\n      template:\n        ref: t";
        let yaml = format!("{BINDING_AND_TEMPLATE}{}", el("el", None, triggers));
        let err = load(&yaml, LoadOptions::default()).unwrap_err();
        let LoadError::Triggers { errors, .. } = &err else {
            panic!("{err}")
        };
        let text = err.to_string();
        assert!(
            text.contains("TriggerBinding default/missing-binding not found"),
            "{text}"
        );
        assert!(
            text.contains("TriggerTemplate default/missing-template not found"),
            "{text}"
        );
        assert!(
            text.contains("secret default/missing-secret not found"),
            "{text}"
        );
        assert!(text.contains("duplicate param name: sha"), "{text}");
        assert!(text.contains("body.a == "), "{text}");
        assert_eq!(errors.len(), 5, "{text}");
    }

    fn trigger(name: &str, namespace: &str, team: &str) -> String {
        format!(
            "---\napiVersion: triggers.tekton.dev/v1beta1\nkind: Trigger\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels:\n    team: {team}\nspec:\n  bindings:\n    - ref: b\n  template:\n    ref: t\n"
        )
    }

    fn in_namespace(yaml: &str, namespace: &str) -> String {
        let yaml = format!("---\n{yaml}");
        yaml.replace(
            "  name: b\n",
            &format!("  name: b\n  namespace: {namespace}\n"),
        )
        .replace(
            "  name: t\n",
            &format!("  name: t\n  namespace: {namespace}\n"),
        )
    }

    #[test]
    fn triggers_are_selected_by_label_and_namespace() {
        let el = "---\napiVersion: triggers.tekton.dev/v1beta1\nkind: EventListener\nmetadata:\n  name: el\n  namespace: ci\nspec:\n  labelSelector:\n    matchLabels:\n      team: a\n";
        let yaml = format!(
            "{}{}{}{}{el}",
            in_namespace(BINDING_AND_TEMPLATE, "ci"),
            trigger("a1", "ci", "a"),
            trigger("b1", "ci", "b"),
            trigger("a2", "other", "a"),
        );
        let l = load(&yaml, LoadOptions::default()).unwrap();
        let names: Vec<&str> = l.triggers.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["a1"],
            "label selector alone: the listener's namespace only"
        );

        let everywhere = el.replace(
            "spec:\n",
            "spec:\n  namespaceSelector:\n    matchNames: [\"*\"]\n",
        );
        let yaml = format!(
            "{}{}{}{}{}{everywhere}",
            in_namespace(BINDING_AND_TEMPLATE, "ci"),
            in_namespace(BINDING_AND_TEMPLATE, "other"),
            trigger("a1", "ci", "a"),
            trigger("b1", "ci", "b"),
            trigger("a2", "other", "a"),
        );
        let l = load(&yaml, LoadOptions::default()).unwrap();
        let mut names: Vec<(&str, &str)> = l
            .triggers
            .iter()
            .map(|t| (t.name.as_str(), t.namespace.as_str()))
            .collect();
        names.sort_unstable();
        assert_eq!(names, [("a1", "ci"), ("a2", "other")]);
    }

    #[test]
    fn the_payload_validation_annotation_turns_validation_off_with_false_only() {
        let annotated = |value: &str| {
            let listener = el("el", None, GOOD_TRIGGER).replace(
                "  name: el\n",
                &format!(
                    "  name: el\n  annotations:\n    tekton.dev/payload-validation: {value:?}\n"
                ),
            );
            format!("{BINDING_AND_TEMPLATE}{listener}")
        };
        let plain = format!("{BINDING_AND_TEMPLATE}{}", el("el", None, GOOD_TRIGGER));
        assert!(
            load(&plain, LoadOptions::default())
                .unwrap()
                .payload_validation
        );
        assert!(
            load(&annotated("true"), LoadOptions::default())
                .unwrap()
                .payload_validation
        );
        assert!(
            !load(&annotated("false"), LoadOptions::default())
                .unwrap()
                .payload_validation
        );
        let err = load(&annotated("False"), LoadOptions::default()).unwrap_err();
        assert!(matches!(err, LoadError::PayloadValidation { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("must have value 'true' or 'false'"),
            "{err}"
        );

        // Cluster mode reads it as upstream's controller does: only "false" turns it off.
        let catalog_of = |yaml: &str| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("all.yaml");
            std::fs::write(&path, yaml).unwrap();
            manifest::load(&[path]).unwrap()
        };
        let cluster = |yaml: &str| {
            Listener::from_catalog_with_secrets(
                &catalog_of(yaml),
                &LoadOptions {
                    listener: Some("el".into()),
                    ..LoadOptions::default()
                },
                Arc::new(ManifestSecrets::new()),
            )
            .unwrap()
            .payload_validation
        };
        assert!(!cluster(&annotated("false")));
        assert!(cluster(&annotated("False")));
    }

    #[test]
    fn no_listener_is_an_error() {
        let err = load(BINDING_AND_TEMPLATE, LoadOptions::default()).unwrap_err();
        assert!(matches!(err, LoadError::NoListener), "{err}");
    }
}

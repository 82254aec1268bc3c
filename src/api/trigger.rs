//! Trigger and the pieces a trigger is made of (`trigger_types.go`, reference §1.3–§1.5, §1.9).

use serde::Deserialize;

use super::ObjectMeta;

/// A Trigger as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Trigger {
    /// Object metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: TriggerSpec,
}

/// `spec` of a Trigger.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TriggerSpec {
    /// Bindings, in order.
    #[serde(default)]
    pub bindings: Vec<TriggerSpecBinding>,
    /// Template reference or inline spec.
    #[serde(default)]
    pub template: Option<TriggerSpecTemplate>,
    /// Interceptor chain, in order.
    #[serde(default)]
    pub interceptors: Vec<TriggerInterceptor>,
    /// Service account whose rights create the resources.
    #[serde(default)]
    pub service_account_name: Option<String>,
}

/// A binding inside a trigger (§1.4): inline `{name, value}`, or `{ref, kind}` naming a
/// TriggerBinding (default) or ClusterTriggerBinding.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct TriggerSpecBinding {
    /// Inline param name.
    #[serde(default)]
    pub name: Option<String>,
    /// Inline param value (`""` is a value).
    #[serde(default, deserialize_with = "super::opt_scalar_string")]
    pub value: Option<String>,
    /// Name of the referenced binding.
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    /// `TriggerBinding` (default) or `ClusterTriggerBinding`.
    #[serde(default)]
    pub kind: Option<String>,
}

/// `template` of a trigger: `ref` to a TriggerTemplate, or an inline `spec`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct TriggerSpecTemplate {
    /// Name of the TriggerTemplate, in the Trigger's namespace.
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    /// The key upstream's docs show (`name`); upstream's code ignores it. Read as `ref` when `ref`
    /// is absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Inline TriggerTemplate spec.
    #[serde(default)]
    pub spec: Option<super::TriggerTemplateSpec>,
}

/// One interceptor of a chain (§1.5), in either form users write: `ref` + `params`, or the
/// legacy v1alpha1 inline `github:` / `gitlab:` / `bitbucket:` / `cel:` keys.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct TriggerInterceptor {
    /// Optional label.
    #[serde(default)]
    pub name: Option<String>,
    /// Reference to a ClusterInterceptor / NamespacedInterceptor.
    #[serde(default, rename = "ref")]
    pub reference: Option<InterceptorRef>,
    /// Params given to the interceptor; `value` is any JSON.
    #[serde(default)]
    pub params: Vec<InterceptorParam>,
    /// Legacy webhook interceptor (§3.5).
    #[serde(default)]
    pub webhook: Option<WebhookInterceptor>,
    /// Legacy inline github interceptor.
    #[serde(default)]
    pub github: Option<LegacySecretInterceptor>,
    /// Legacy inline gitlab interceptor.
    #[serde(default)]
    pub gitlab: Option<LegacySecretInterceptor>,
    /// Legacy inline bitbucket interceptor.
    #[serde(default)]
    pub bitbucket: Option<LegacySecretInterceptor>,
    /// Legacy inline cel interceptor.
    #[serde(default)]
    pub cel: Option<LegacyCel>,
}

/// The legacy `webhook:` interceptor (upstream `WebhookInterceptor`, reference §3.5): the
/// request as received is POSTed to `url`, or to the Service `objectRef` names, and the answer
/// replaces the chain's body and headers.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookInterceptor {
    /// A Service (`kind: Service`, `apiVersion: v1`), called at `http://NAME.NAMESPACE.svc/`.
    #[serde(default)]
    pub object_ref: Option<ObjectReference>,
    /// A whole URL; wins over `objectRef`.
    #[serde(default)]
    pub url: Option<String>,
    /// Headers set on the request: a string value sets (replaces) the header, a list value
    /// replaces it with every item.
    #[serde(default)]
    pub header: Vec<WebhookHeader>,
}

/// `webhook.objectRef` (a Kubernetes `ObjectReference`, as far as upstream reads it).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// Must be `Service`.
    #[serde(default)]
    pub kind: String,
    /// Must be `v1`.
    #[serde(default)]
    pub api_version: String,
    /// Service name.
    #[serde(default)]
    pub name: String,
    /// Service namespace; empty: the Trigger's.
    #[serde(default)]
    pub namespace: String,
}

/// One `webhook.header` entry (a Tekton Pipelines `Param`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct WebhookHeader {
    /// Header name.
    pub name: String,
    /// Its value.
    pub value: WebhookHeaderValue,
}

/// A header value: one string, or a list of strings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum WebhookHeaderValue {
    /// Sets the header to this value.
    String(String),
    /// Replaces the header with these values.
    Array(Vec<String>),
}

/// `ref` of an interceptor.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InterceptorRef {
    /// Interceptor name: `github`, `cel`, … for the core interceptors.
    #[serde(default)]
    pub name: String,
    /// `ClusterInterceptor` (default) or `NamespacedInterceptor`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Ignored, as upstream.
    #[serde(default)]
    pub api_version: Option<String>,
}

/// One `{name, value}` interceptor param; `value` is arbitrary JSON.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct InterceptorParam {
    /// Param name.
    pub name: String,
    /// Param value.
    #[serde(default)]
    pub value: serde_json::Value,
}

/// `secretRef` of the github/gitlab/bitbucket interceptors.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    /// Secret name, in the Trigger's namespace.
    #[serde(default)]
    pub secret_name: String,
    /// Key inside the Secret.
    #[serde(default)]
    pub secret_key: String,
}

/// Legacy `github:` / `gitlab:` / `bitbucket:` inline form. Unknown fields are errors: a
/// misspelled `secretRef` must not silently disable the signature check.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacySecretInterceptor {
    /// Secret holding the webhook secret.
    #[serde(default)]
    pub secret_ref: Option<SecretRef>,
    /// Accepted event types.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
}

/// Legacy `cel:` inline form (unknown fields are errors, as a misspelled `filter` would let every
/// event through).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LegacyCel {
    /// Filter expression.
    #[serde(default)]
    pub filter: Option<String>,
    /// Overlays.
    #[serde(default)]
    pub overlays: Vec<LegacyOverlay>,
}

/// One overlay: the result of `expression` written at `key` in `extensions`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct LegacyOverlay {
    /// Dotted path inside extensions.
    pub key: String,
    /// CEL expression.
    pub expression: String,
}

impl TriggerInterceptor {
    /// The interceptor's params in the `ref` form, rewriting the legacy inline forms as upstream's
    /// v1alpha1 defaulting does (§1.9): `(name, params)`, or `None` for a legacy webhook or an
    /// entry that names no interceptor.
    pub fn normalized(&self) -> Option<(String, Vec<InterceptorParam>)> {
        let param = |name: &str, value: serde_json::Value| InterceptorParam {
            name: name.to_owned(),
            value,
        };
        let legacy = |name: &str, l: &LegacySecretInterceptor| {
            let mut params = Vec::new();
            if let Some(s) = &l.secret_ref {
                params.push(param(
                    "secretRef",
                    serde_json::json!({"secretName": s.secret_name, "secretKey": s.secret_key}),
                ));
            }
            if let Some(types) = &l.event_types {
                params.push(param("eventTypes", serde_json::json!(types)));
            }
            (name.to_owned(), params)
        };
        if let Some(r) = &self.reference {
            return Some((r.name.clone(), self.params.clone()));
        }
        if let Some(g) = &self.github {
            return Some(legacy("github", g));
        }
        if let Some(g) = &self.gitlab {
            return Some(legacy("gitlab", g));
        }
        if let Some(b) = &self.bitbucket {
            return Some(legacy("bitbucket", b));
        }
        if let Some(c) = &self.cel {
            let mut params = Vec::new();
            if let Some(f) = &c.filter {
                params.push(param("filter", serde_json::json!(f)));
            }
            if !c.overlays.is_empty() {
                let overlays: Vec<_> = c
                    .overlays
                    .iter()
                    .map(|o| serde_json::json!({"key": o.key, "expression": o.expression}))
                    .collect();
                params.push(param("overlays", serde_json::Value::Array(overlays)));
            }
            return Some(("cel".to_owned(), params));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_github_form_becomes_ref_form_params() {
        let i: TriggerInterceptor = serde_json::from_value(serde_json::json!({
            "github": {"secretRef": {"secretName": "s", "secretKey": "k"}, "eventTypes": ["pull_request"]}
        }))
        .unwrap();
        let (name, params) = i.normalized().unwrap();
        assert_eq!(name, "github");
        assert_eq!(params[0].name, "secretRef");
        assert_eq!(params[0].value["secretKey"], "k");
        assert_eq!(params[1].value, serde_json::json!(["pull_request"]));
    }

    #[test]
    fn legacy_cel_form_keeps_filter_and_overlays() {
        let i: TriggerInterceptor = serde_json::from_value(serde_json::json!({
            "cel": {"filter": "true", "overlays": [{"key": "a", "expression": "1"}]}
        }))
        .unwrap();
        let (name, params) = i.normalized().unwrap();
        assert_eq!(name, "cel");
        assert_eq!(params[0].value, "true");
        assert_eq!(params[1].value[0]["key"], "a");
    }

    #[test]
    fn ref_form_passes_params_through() {
        let i: TriggerInterceptor = serde_json::from_value(serde_json::json!({
            "ref": {"name": "cel", "kind": "ClusterInterceptor"},
            "params": [{"name": "filter", "value": "body.a == 1"}]
        }))
        .unwrap();
        assert_eq!(i.normalized().unwrap().0, "cel");
    }
}

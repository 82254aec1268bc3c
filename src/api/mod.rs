//! Serde mirrors of the Tekton Triggers objects exactly as users write them (reference §1), plus
//! the `v1` Secret. Data only, no behaviour: `trigger::resolve` turns these into runnable triggers.
//!
//! Mirrors `pkg/apis/triggers/v1beta1/*_types.go` upstream; `v1alpha1` objects share the same
//! fields (the CRDs serve both versions with the same JSON), and the legacy inline interceptor
//! forms of v1alpha1 (`github:`, `cel:`, …) are read here and rewritten by `trigger::resolve`.

mod event_listener;
mod interceptor;
mod secret;
mod trigger;
mod trigger_binding;
mod trigger_template;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

pub use event_listener::{
    EventListener, EventListenerSpec, EventListenerTrigger, EventListenerTriggerGroup,
    LabelSelector, LabelSelectorRequirement, NamespaceSelector, TriggerGroupSelector,
};
pub use interceptor::{
    Address, ClientConfig, Interceptor, InterceptorSpec, InterceptorStatus, ServiceReference,
};
pub use secret::Secret;
pub use trigger::{
    InterceptorParam, InterceptorRef, LegacyCel, LegacyOverlay, LegacySecretInterceptor,
    ObjectReference, SecretRef, Trigger, TriggerInterceptor, TriggerSpec, TriggerSpecBinding,
    TriggerSpecTemplate, WebhookHeader, WebhookHeaderValue, WebhookInterceptor,
};
pub use trigger_binding::{TriggerBinding, TriggerBindingSpec};
pub use trigger_template::{ParamSpec, TriggerTemplate, TriggerTemplateSpec};

/// The API group of every Tekton Triggers kind read here.
pub const TRIGGERS_GROUP: &str = "triggers.tekton.dev";

/// `metadata` as far as the sink uses it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `metadata.name`.
    #[serde(default)]
    pub name: String,
    /// `metadata.namespace`; empty when the manifest does not say.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `metadata.uid`; returned as `eventListenerUID` (§2.4).
    #[serde(default)]
    pub uid: Option<String>,
    /// `metadata.labels`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A `{name, value}` pair of a TriggerBinding or an inline binding (§1.6). YAML scalars that are
/// not strings (`value: 1`, `value: true`) are read as their text.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Param {
    /// Param name.
    pub name: String,
    /// Param value, possibly holding `$(…)` expressions.
    #[serde(deserialize_with = "scalar_string")]
    pub value: String,
}

/// Reads a string, or a number/bool as its text: Kubernetes would store `"1"` for a quoted value,
/// and users often forget the quotes in YAML.
pub(crate) fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        other => Err(D::Error::custom(format!(
            "expected a string, found {}",
            json_type_name(&other)
        ))),
    }
}

/// Like [`scalar_string`], for optional fields.
pub(crate) fn opt_scalar_string<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "scalar_string")] String);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

/// How every YAML document of this project is read: YAML 1.2 core schema, as Kubernetes reads
/// manifests, so `on`, `off`, `y` and `n` stay strings (upstream's YAML 1.1 reading turns a param
/// named `n` into a boolean).
pub fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

/// A JSON type's name for messages: `null`, `a boolean`, `a number`, `a string`, `a list`, `an object`.
pub fn json_type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The kinds this crate reads, each from its group/version.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    /// `triggers.tekton.dev/{v1beta1,v1alpha1}` EventListener.
    EventListener(EventListener),
    /// `triggers.tekton.dev/{v1beta1,v1alpha1}` Trigger.
    Trigger(Trigger),
    /// `triggers.tekton.dev/{v1beta1,v1alpha1}` TriggerBinding.
    TriggerBinding(TriggerBinding),
    /// `triggers.tekton.dev/{v1beta1,v1alpha1}` ClusterTriggerBinding (same spec, cluster scope).
    ClusterTriggerBinding(TriggerBinding),
    /// `triggers.tekton.dev/{v1beta1,v1alpha1}` TriggerTemplate.
    TriggerTemplate(TriggerTemplate),
    /// `v1` Secret.
    Secret(Secret),
    /// `triggers.tekton.dev/v1alpha1` ClusterInterceptor.
    ClusterInterceptor(Interceptor),
    /// `triggers.tekton.dev/v1alpha1` Interceptor.
    Interceptor(Interceptor),
}

/// What [`Manifest::kind_of`] says about a document's `apiVersion` and `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownKind {
    /// EventListener.
    EventListener,
    /// Trigger.
    Trigger,
    /// TriggerBinding.
    TriggerBinding,
    /// ClusterTriggerBinding.
    ClusterTriggerBinding,
    /// TriggerTemplate.
    TriggerTemplate,
    /// v1 Secret.
    Secret,
    /// ClusterInterceptor (v1alpha1; v1beta1 read alike).
    ClusterInterceptor,
    /// Interceptor (v1alpha1; v1beta1 read alike).
    Interceptor,
}

impl Manifest {
    /// Which known kind `apiVersion`/`kind` name, or `None` for kinds this crate skips
    /// (RBAC, Task, Pipeline, …).
    pub fn kind_of(api_version: &str, kind: &str) -> Option<KnownKind> {
        if api_version == "v1" && kind == "Secret" {
            return Some(KnownKind::Secret);
        }
        let (group, version) = api_version.split_once('/')?;
        if group != TRIGGERS_GROUP || !matches!(version, "v1beta1" | "v1alpha1") {
            return None;
        }
        Some(match kind {
            "EventListener" => KnownKind::EventListener,
            "Trigger" => KnownKind::Trigger,
            "TriggerBinding" => KnownKind::TriggerBinding,
            "ClusterTriggerBinding" => KnownKind::ClusterTriggerBinding,
            "TriggerTemplate" => KnownKind::TriggerTemplate,
            "ClusterInterceptor" => KnownKind::ClusterInterceptor,
            "Interceptor" => KnownKind::Interceptor,
            _ => return None,
        })
    }
}

//! EventListener (`event_listener_types.go`, reference §1.2, §1.3).

use serde::Deserialize;

use super::{ObjectMeta, TriggerInterceptor, TriggerSpecBinding, TriggerSpecTemplate};

/// An EventListener as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct EventListener {
    /// Object metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: EventListenerSpec,
}

/// `spec` of an EventListener. Fields for pods and selectors that the sink does not act on yet
/// are accepted and ignored.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventListenerSpec {
    /// Inline triggers and `triggerRef`s, run for every event.
    #[serde(default)]
    pub triggers: Vec<EventListenerTrigger>,
    /// Service account of the listener pod; unused when handling events.
    #[serde(default)]
    pub service_account_name: Option<String>,
    /// `namespaceSelector`, kept to report it as not supported yet.
    #[serde(default)]
    pub namespace_selector: Option<serde_json::Value>,
    /// `labelSelector`, kept to report it as not supported yet.
    #[serde(default)]
    pub label_selector: Option<serde_json::Value>,
    /// `triggerGroups`, kept to report it as not supported yet.
    #[serde(default)]
    pub trigger_groups: Option<serde_json::Value>,
}

/// One entry of `spec.triggers`: either `triggerRef` or an inline trigger (§1.3).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventListenerTrigger {
    /// Trigger name; for inline triggers also the `triggers.tekton.dev/trigger` label value.
    #[serde(default)]
    pub name: String,
    /// Name of a Trigger in the EventListener's namespace.
    #[serde(default)]
    pub trigger_ref: Option<String>,
    /// Inline bindings.
    #[serde(default)]
    pub bindings: Vec<TriggerSpecBinding>,
    /// Inline template reference or spec.
    #[serde(default)]
    pub template: Option<TriggerSpecTemplate>,
    /// Inline interceptor chain.
    #[serde(default)]
    pub interceptors: Vec<TriggerInterceptor>,
    /// Service account whose rights create the resources.
    #[serde(default)]
    pub service_account_name: Option<String>,
}

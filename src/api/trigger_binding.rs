//! TriggerBinding and ClusterTriggerBinding (`trigger_binding_types.go`, reference §1.6).

use serde::Deserialize;

use super::{ObjectMeta, Param};

/// A TriggerBinding or ClusterTriggerBinding as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TriggerBinding {
    /// Object metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: TriggerBindingSpec,
}

/// `spec` of a TriggerBinding.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct TriggerBindingSpec {
    /// Params, each `{name, value}`.
    #[serde(default)]
    pub params: Vec<Param>,
}

//! TriggerTemplate (`trigger_template_types.go`, reference §1.7).

use serde::Deserialize;

use super::ObjectMeta;

/// A TriggerTemplate as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TriggerTemplate {
    /// Object metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: TriggerTemplateSpec,
}

/// `spec` of a TriggerTemplate; also the inline `template.spec` of a trigger.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct TriggerTemplateSpec {
    /// Declared params.
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    /// The objects to create, JSON objects with `$(tt.params.NAME)` and `$(uid)` placeholders.
    #[serde(default)]
    pub resourcetemplates: Vec<serde_json::Value>,
}

/// A declared template param.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ParamSpec {
    /// Param name.
    pub name: String,
    /// Human description; unused.
    #[serde(default)]
    pub description: Option<String>,
    /// Value used when no binding gives one.
    #[serde(default, deserialize_with = "super::opt_scalar_string")]
    pub default: Option<String>,
}

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
    /// Namespaces to select Triggers from (§2.6).
    #[serde(default)]
    pub namespace_selector: Option<NamespaceSelector>,
    /// Labels selected Triggers must have (§2.6).
    #[serde(default)]
    pub label_selector: Option<LabelSelector>,
    /// `triggerGroups` (§2.6): interceptors run once for a group of selected Triggers.
    #[serde(default)]
    pub trigger_groups: Vec<EventListenerTriggerGroup>,
    /// `cloudEventURI`: where to send the CloudEvents about each event (reference §8.5; upstream
    /// passes it to the sink as `--cloudevent-uri`).
    #[serde(default, rename = "cloudEventURI")]
    pub cloud_event_uri: Option<String>,
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

/// One entry of `spec.triggerGroups` (reference §1.2, §2.6; upstream
/// `event_listener_types.go` `EventListenerTriggerGroup`): an interceptor chain run once per
/// event, whose extensions every Trigger its selector selects starts from.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventListenerTriggerGroup {
    /// Group name (in logs, and in the interceptors' `trigger_id`).
    #[serde(default)]
    pub name: String,
    /// The group's interceptor chain; upstream's webhook requires at least one.
    #[serde(default)]
    pub interceptors: Vec<TriggerInterceptor>,
    /// Which Triggers belong to the group.
    #[serde(default)]
    pub trigger_selector: TriggerGroupSelector,
}

/// `triggerGroups[].triggerSelector`: the same two selectors as the EventListener's, with the
/// same meaning (§2.6); both empty selects nothing.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TriggerGroupSelector {
    /// Namespaces to select Triggers from.
    #[serde(default)]
    pub namespace_selector: Option<NamespaceSelector>,
    /// Labels selected Triggers must have.
    #[serde(default)]
    pub label_selector: Option<LabelSelector>,
}

/// `namespaceSelector`: `matchNames`, where exactly `["*"]` means every namespace.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Namespace names.
    #[serde(default)]
    pub match_names: Vec<String>,
}

/// A Kubernetes `metav1.LabelSelector`: every `matchLabels` pair and every `matchExpressions`
/// requirement must hold; an empty selector selects everything.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must have exactly these values.
    #[serde(default)]
    pub match_labels: std::collections::BTreeMap<String, String>,
    /// Requirements.
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In` and `NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Whether `labels` satisfy the selector.
    ///
    /// # Errors
    /// An unknown operator, or `In`/`NotIn` without values (as Kubernetes rejects them).
    pub fn matches(
        &self,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<bool, String> {
        if self
            .match_labels
            .iter()
            .any(|(k, v)| labels.get(k) != Some(v))
        {
            return Ok(false);
        }
        for r in &self.match_expressions {
            let value = labels.get(&r.key);
            let holds = match r.operator.as_str() {
                "In" | "NotIn" if r.values.is_empty() => {
                    return Err(format!("operator {} on {} needs values", r.operator, r.key));
                }
                "In" => value.is_some_and(|v| r.values.contains(v)),
                "NotIn" => !value.is_some_and(|v| r.values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                other => return Err(format!("unknown operator {other:?} on {}", r.key)),
            };
            if !holds {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn label_selectors_follow_kubernetes() {
        let s: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"team": "ci"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["staging", "prod"]},
                {"key": "skip", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        assert_eq!(
            s.matches(&labels(&[("team", "ci"), ("env", "prod")])),
            Ok(true)
        );
        assert_eq!(
            s.matches(&labels(&[("team", "ci"), ("env", "dev")])),
            Ok(false)
        );
        assert_eq!(
            s.matches(&labels(&[("team", "ci"), ("env", "prod"), ("skip", "y")])),
            Ok(false)
        );
        assert_eq!(s.matches(&labels(&[("env", "prod")])), Ok(false));
        assert_eq!(LabelSelector::default().matches(&labels(&[])), Ok(true));
        let bad = LabelSelector {
            match_expressions: vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: "Like".into(),
                values: vec![],
            }],
            ..LabelSelector::default()
        };
        assert!(bad.matches(&labels(&[])).is_err());
    }
}

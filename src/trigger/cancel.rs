//! A Trigger's opt-in to cancelling superseded PipelineRuns (issue 16; the creator's half is
//! `resources::cancel`). Read from the Trigger's annotations at load, rendered per event:
//!
//! - [`ANNOTATION_CANCEL_SUPERSEDED`]: the cancel key, a TriggerBinding-style value
//!   (`$(body…)`, `$(header…)`, `$(extensions…)`, `$(context.eventID)` and literal text, §5),
//!   e.g. `$(body.repository.full_name)#$(body.pull_request.number)`. Runs of the same trigger
//!   and key supersede each other. An event whose key does not render (a missing field, say a
//!   push without `pull_request`) or renders empty is not part of any group: no label, nothing
//!   cancelled.
//! - [`ANNOTATION_CANCEL_STATUS`]: `CancelledRunFinally` (default) or `Cancelled`.
//! - [`ANNOTATION_CANCEL_ORDER`]: the order stamp, a value of the same kind that renders an
//!   RFC 3339 timestamp from the payload, e.g. `$(body.pull_request.updated_at)` or
//!   `$(body.head_commit.timestamp)`. Without it the stamp is the time the listener processed
//!   the event. When it is set but does not render a timestamp, the event cancels nothing.
//!
//! EventListener inline triggers have no metadata and cannot opt in; a `triggerRef` to a
//! Trigger that carries the annotations can.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::binding::{EventDocument, ParamTemplate};
use crate::event::BodyPaths;
use crate::resources::{CancelStamp, CancelStatus, key_label, parse_order};

/// Trigger annotation: the cancel key template; its presence opts the Trigger in.
pub const ANNOTATION_CANCEL_SUPERSEDED: &str = "eventlistener.dev/cancel-superseded";
/// Trigger annotation: `spec.status` for superseded runs (`CancelledRunFinally`, `Cancelled`).
pub const ANNOTATION_CANCEL_STATUS: &str = "eventlistener.dev/cancel-status";
/// Trigger annotation: the order stamp template (an RFC 3339 timestamp once rendered).
pub const ANNOTATION_CANCEL_ORDER: &str = "eventlistener.dev/cancel-order";

/// A Trigger's cancel settings, compiled.
#[derive(Debug, Clone)]
pub struct CancelSuperseded {
    key: ParamTemplate,
    order: Option<ParamTemplate>,
    status: CancelStatus,
}

/// A problem with the annotations: the annotation at fault and what is wrong.
pub(super) type AnnotationError = (String, String);

impl CancelSuperseded {
    /// The settings of a Trigger with these `metadata.annotations`; `Ok(None)` when it does not
    /// opt in.
    ///
    /// # Errors
    /// Every problem: a template that does not compile, an unknown status, or the status or
    /// order annotation without the key one (a misspelt key annotation would otherwise switch
    /// the feature off silently).
    pub(super) fn from_annotations(
        annotations: &BTreeMap<String, String>,
    ) -> Result<Option<Self>, Vec<AnnotationError>> {
        // The annotation's name follows the path after a space: a field path cannot hold its
        // `.`, and `validate` places the problem at `metadata.annotations`.
        let field = |name: &str| format!("metadata.annotations {name}");
        let Some(key) = annotations.get(ANNOTATION_CANCEL_SUPERSEDED) else {
            let stray: Vec<AnnotationError> = [ANNOTATION_CANCEL_STATUS, ANNOTATION_CANCEL_ORDER]
                .into_iter()
                .filter(|name| annotations.contains_key(*name))
                .map(|name| {
                    (
                        field(name),
                        format!("has no effect without {ANNOTATION_CANCEL_SUPERSEDED}"),
                    )
                })
                .collect();
            return if stray.is_empty() {
                Ok(None)
            } else {
                Err(stray)
            };
        };
        let mut errors = Vec::new();
        let key = match ParamTemplate::parse(key) {
            Ok(key) if !key.source().trim().is_empty() => Some(key),
            Ok(_) => {
                errors.push((
                    field(ANNOTATION_CANCEL_SUPERSEDED),
                    "the cancel key is empty".to_owned(),
                ));
                None
            }
            Err(e) => {
                errors.push((field(ANNOTATION_CANCEL_SUPERSEDED), e.to_string()));
                None
            }
        };
        let status = match annotations.get(ANNOTATION_CANCEL_STATUS) {
            None => CancelStatus::default(),
            Some(text) => CancelStatus::parse(text).unwrap_or_else(|| {
                errors.push((
                    field(ANNOTATION_CANCEL_STATUS),
                    format!("{text:?} is neither CancelledRunFinally nor Cancelled"),
                ));
                CancelStatus::default()
            }),
        };
        let order = match annotations
            .get(ANNOTATION_CANCEL_ORDER)
            .map(|t| ParamTemplate::parse(t))
        {
            None => None,
            Some(Ok(order)) => Some(order),
            Some(Err(e)) => {
                errors.push((field(ANNOTATION_CANCEL_ORDER), e.to_string()));
                None
            }
        };
        match key {
            Some(key) if errors.is_empty() => Ok(Some(Self { key, order, status })),
            _ => Err(errors),
        }
    }

    /// What superseded runs are patched to.
    pub fn status(&self) -> CancelStatus {
        self.status
    }

    /// The parts of the body the key and order read (merged into the listener's).
    pub fn body_paths(&self) -> BodyPaths {
        let mut paths = self.key.body_paths();
        if let Some(order) = &self.order {
            paths.merge(&order.body_paths());
        }
        paths
    }

    /// The key and order stamp of one event, `now` being when it is processed; `None` when the
    /// key does not render or renders empty (the event is then in no group).
    pub fn stamp(&self, document: &EventDocument<'_>, now: DateTime<Utc>) -> Option<CancelStamp> {
        let key = match self.key.render(document, None) {
            Ok(key) if !key.is_empty() => key,
            Ok(_) => {
                tracing::debug!("the cancel key is empty: this event cancels nothing");
                return None;
            }
            Err(e) => {
                tracing::debug!(error = %e, "no cancel key: this event cancels nothing");
                return None;
            }
        };
        let order = match &self.order {
            None => Some(now),
            Some(order) => {
                let rendered = order.render(document, None);
                let parsed = rendered.as_deref().ok().and_then(parse_order);
                if parsed.is_none() {
                    tracing::warn!(
                        order = order.source(),
                        "the cancel order does not render an RFC 3339 timestamp: this event \
                         cancels nothing"
                    );
                }
                parsed
            }
        };
        Some(CancelStamp {
            key_label: key_label(&key),
            order,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::event::Extensions;
    use crate::resources::parse_order;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const KEY: &str = "$(body.repository.full_name)#$(body.pull_request.number)";

    fn stamp_of(settings: &CancelSuperseded, body: &Value) -> Option<CancelStamp> {
        let extensions = Extensions::new();
        let document = EventDocument {
            body,
            header: &crate::event::Headers::new(),
            extensions: &extensions,
            event_id: "e1",
        };
        settings.stamp(&document, parse_order("2024-05-01T10:00:00Z").unwrap())
    }

    fn pull_request(repo: &str, number: u64, updated_at: &str) -> Value {
        json!({"repository": {"full_name": repo},
               "pull_request": {"number": number, "updated_at": updated_at}})
    }

    #[test]
    fn a_trigger_without_the_key_annotation_does_not_opt_in() {
        let none = CancelSuperseded::from_annotations(&annotations(&[("other", "x")])).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn the_key_renders_through_binding_expressions_and_is_hashed() {
        let settings = CancelSuperseded::from_annotations(&annotations(&[(
            ANNOTATION_CANCEL_SUPERSEDED,
            KEY,
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(settings.status(), CancelStatus::CancelledRunFinally);
        let stamp = stamp_of(&settings, &pull_request("octo/hello", 42, "x")).unwrap();
        assert_eq!(stamp.key_label, key_label("octo/hello#42"));
        assert_eq!(
            stamp.order,
            parse_order("2024-05-01T10:00:00Z"),
            "no order annotation: the processing time"
        );
        let other = stamp_of(&settings, &pull_request("octo/hello", 43, "x")).unwrap();
        assert_ne!(other.key_label, stamp.key_label);
    }

    #[test]
    fn an_event_whose_key_does_not_render_is_in_no_group() {
        let settings = CancelSuperseded::from_annotations(&annotations(&[(
            ANNOTATION_CANCEL_SUPERSEDED,
            KEY,
        )]))
        .unwrap()
        .unwrap();
        let push = json!({"repository": {"full_name": "octo/hello"}, "ref": "refs/heads/main"});
        assert_eq!(stamp_of(&settings, &push), None);
        let empty = CancelSuperseded::from_annotations(&annotations(&[(
            ANNOTATION_CANCEL_SUPERSEDED,
            "$(body.name)",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(stamp_of(&empty, &json!({"name": ""})), None);
    }

    #[test]
    fn the_order_comes_from_the_payload_when_configured() {
        let settings = CancelSuperseded::from_annotations(&annotations(&[
            (ANNOTATION_CANCEL_SUPERSEDED, KEY),
            (ANNOTATION_CANCEL_ORDER, "$(body.pull_request.updated_at)"),
            (ANNOTATION_CANCEL_STATUS, "Cancelled"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(settings.status(), CancelStatus::Cancelled);
        let stamp = stamp_of(
            &settings,
            &pull_request("octo/hello", 42, "2019-05-15T15:20:33+02:00"),
        )
        .unwrap();
        assert_eq!(stamp.order, parse_order("2019-05-15T13:20:33Z"));
        let unreadable = stamp_of(&settings, &pull_request("octo/hello", 42, "last week")).unwrap();
        assert_eq!(unreadable.key_label, stamp.key_label, "still labelled");
        assert_eq!(unreadable.order, None, "but cancels nothing");
    }

    #[test]
    fn bad_annotations_are_load_errors_naming_the_annotation() {
        let cases = [
            vec![(ANNOTATION_CANCEL_SUPERSEDED, "$(body.a")],
            vec![(ANNOTATION_CANCEL_SUPERSEDED, "$(payload.a)")],
            vec![(ANNOTATION_CANCEL_SUPERSEDED, " ")],
            vec![
                (ANNOTATION_CANCEL_SUPERSEDED, KEY),
                (ANNOTATION_CANCEL_STATUS, "Stopped"),
            ],
            vec![
                (ANNOTATION_CANCEL_SUPERSEDED, KEY),
                (ANNOTATION_CANCEL_ORDER, "$(body.a"),
            ],
            vec![(ANNOTATION_CANCEL_STATUS, "Cancelled")],
            vec![(ANNOTATION_CANCEL_ORDER, "$(body.a)")],
        ];
        for case in cases {
            let errors = CancelSuperseded::from_annotations(&annotations(&case)).unwrap_err();
            assert_eq!(errors.len(), 1, "{case:?}: {errors:?}");
            assert!(
                errors[0]
                    .0
                    .starts_with("metadata.annotations eventlistener.dev/cancel-"),
                "{errors:?}"
            );
        }
    }
}

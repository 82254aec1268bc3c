//! Cancelling superseded PipelineRuns (issue 16; no upstream counterpart: Tekton Triggers has
//! only an unmerged proof of concept, Pipelines-as-Code cancels in-progress runs its own way).
//!
//! A trigger that opts in (see `trigger::CancelSuperseded`) renders a *cancel key* per event,
//! e.g. `octo/hello#42`. Every object it creates carries the key, hashed, in the label
//! [`LABEL_CANCEL_KEY`] (label values are at most 63 characters of a restricted alphabet, a key
//! is any text), and the event's *order stamp* in the annotation [`ANNOTATION_CANCEL_ORDER`].
//! After a new PipelineRun is created, the creator lists the PipelineRuns of the same trigger
//! (`triggers.tekton.dev/trigger`) and key, and patches each one that [`judge`] says is
//! superseded to `spec.status: CancelledRunFinally` (or `Cancelled`).
//!
//! The ordering rule: a run is superseded only by a run whose order stamp is strictly later.
//! Equal stamps cancel neither (two runs beat zero: never both cancelled by a race), and a run
//! without a readable stamp is never cancelled. So an old event that arrives late (a
//! redelivery that creates its run only now) does not cancel the newer run, as long as the stamp
//! comes from the payload (the Trigger annotation `eventlistener.dev/cancel-order`); a redelivery that finds its run
//! already created (idempotency) creates nothing and so cancels nothing.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Label carrying the hashed cancel key on every object of an opted-in trigger.
pub const LABEL_CANCEL_KEY: &str = "eventlistener.dev/cancel-key";
/// Annotation carrying the order stamp (RFC 3339, UTC, nanoseconds) on every object of an
/// opted-in trigger.
pub const ANNOTATION_CANCEL_ORDER: &str = "eventlistener.dev/cancel-order-stamp";

/// Longest label value Kubernetes accepts.
const MAX_LABEL_VALUE_LEN: usize = 63;

/// The `spec.status` a superseded PipelineRun is patched to (Tekton Pipelines v1
/// `PipelineRunSpecStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CancelStatus {
    /// Running tasks are cancelled, `finally` tasks still run (the default).
    #[default]
    CancelledRunFinally,
    /// Everything is cancelled at once, `finally` tasks included.
    Cancelled,
}

impl CancelStatus {
    /// The value as Tekton spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CancelledRunFinally => "CancelledRunFinally",
            Self::Cancelled => "Cancelled",
        }
    }

    /// Reads the value as Tekton spells it; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "CancelledRunFinally" => Some(Self::CancelledRunFinally),
            "Cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// The label value of a rendered cancel key: the lower-case hex SHA-256 of its UTF-8 bytes, cut
/// to 63 characters (a valid label value for any key; 252 bits keep collisions out of reach).
pub fn key_label(key: &str) -> String {
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let mut label = hex::encode(digest);
    label.truncate(MAX_LABEL_VALUE_LEN);
    label
}

/// An order stamp as stored in [`ANNOTATION_CANCEL_ORDER`]: RFC 3339 in UTC with nanoseconds.
pub fn format_order(order: DateTime<Utc>) -> String {
    order.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Reads an order stamp: any RFC 3339 timestamp (a payload's `2024-05-01T12:00:00+02:00` as
/// well as a stored stamp), as an instant in UTC; `None` when it is not one.
pub fn parse_order(text: &str) -> Option<DateTime<Utc>> {
    DateTime::<FixedOffset>::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What the cancel key and order of one event put on each object its trigger creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelStamp {
    /// [`key_label`] of the rendered key.
    pub key_label: String,
    /// The event's order stamp; `None` when it could not be determined (the objects then carry
    /// the key label only, and this event cancels nothing).
    pub order: Option<DateTime<Utc>>,
}

/// What a creator needs to cancel the runs superseded by one it has just created.
#[derive(Debug, Clone, Copy)]
pub struct CancelRequest<'a> {
    /// Trigger name (the `triggers.tekton.dev/trigger` label of the runs to look at).
    pub trigger: &'a str,
    /// [`key_label`] of the key (the [`LABEL_CANCEL_KEY`] label of the runs to look at).
    pub key_label: &'a str,
    /// The new run's order stamp: only runs with an earlier one are cancelled.
    pub order: DateTime<Utc>,
    /// What to set `spec.status` to.
    pub status: CancelStatus,
    /// The user to list and patch as (the trigger's ServiceAccount, as for creating), if any.
    pub impersonate: Option<&'a str>,
}

/// What cancelling did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CancelReport {
    /// Names of the runs patched.
    pub cancelled: Vec<String>,
    /// Failed calls: the list (one), or each patch that failed. Logged where they failed.
    pub failed: usize,
}

/// Why a listed run is or is not cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Unfinished, older: patch it.
    Cancel,
    /// The run just created.
    Itself,
    /// Has a `Succeeded` condition with status `True` or `False`.
    Finished,
    /// `spec.status` is already a cancel (or stop) request.
    AlreadyCancelled,
    /// Its order stamp is the same as or later than the new run's.
    NotOlder,
    /// It has no readable order stamp.
    NoOrder,
}

/// Whether `run` (a PipelineRun as the API returns it) is superseded by the run named
/// `created` whose order stamp is `order`. See the module documentation for the rule.
pub fn judge(run: &Value, created: &str, order: DateTime<Utc>) -> Verdict {
    let metadata = &run["metadata"];
    if metadata["name"].as_str() == Some(created) {
        return Verdict::Itself;
    }
    let finished = run["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Succeeded" && (c["status"] == "True" || c["status"] == "False"));
    if finished {
        return Verdict::Finished;
    }
    let status = run["spec"]["status"].as_str().unwrap_or_default();
    if matches!(
        status,
        "Cancelled" | "CancelledRunFinally" | "StoppedRunFinally" | "PipelineRunCancelled"
    ) {
        return Verdict::AlreadyCancelled;
    }
    let Some(theirs) = metadata["annotations"][ANNOTATION_CANCEL_ORDER]
        .as_str()
        .and_then(parse_order)
    else {
        return Verdict::NoOrder;
    };
    if theirs < order {
        Verdict::Cancel
    } else {
        Verdict::NotOlder
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(name: &str, order: Option<&str>, status: Value) -> Value {
        let mut annotations = json!({});
        if let Some(order) = order {
            annotations[ANNOTATION_CANCEL_ORDER] = json!(order);
        }
        json!({"metadata": {"name": name, "annotations": annotations}, "spec": {}, "status": status})
    }

    fn at(text: &str) -> DateTime<Utc> {
        parse_order(text).unwrap()
    }

    #[test]
    fn key_label_is_a_valid_label_value_that_depends_on_the_whole_key() {
        let label = key_label("octo/hello#42");
        assert_eq!(label.len(), 63);
        assert!(
            label
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(label, key_label("octo/hello#42"), "a function of the key");
        assert_ne!(label, key_label("octo/hello#43"));
        assert_ne!(label, key_label("octo/hello#42 "));
        assert_eq!(key_label("").len(), 63);
        assert_eq!(key_label(&"é".repeat(10_000)).len(), 63);
    }

    #[test]
    fn key_label_is_sha256_hex_cut_to_63() {
        // sha256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            key_label("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"
        );
    }

    #[test]
    fn order_stamps_compare_as_instants_whatever_their_offset() {
        assert_eq!(
            at("2024-05-01T12:00:00+02:00"),
            at("2024-05-01T10:00:00Z"),
            "one instant"
        );
        let stored = format_order(at("2024-05-01T12:00:00.5+02:00"));
        assert_eq!(stored, "2024-05-01T10:00:00.500000000Z");
        assert_eq!(parse_order(&stored), Some(at("2024-05-01T10:00:00.5Z")));
        for bad in ["", "yesterday", "1714557600", "2024-05-01"] {
            assert_eq!(parse_order(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_unfinished_older_runs_are_cancelled() {
        let now = at("2024-05-01T10:00:00Z");
        let cases = [
            (
                "older, no status",
                run("a", Some("2024-05-01T09:59:59Z"), Value::Null),
                Verdict::Cancel,
            ),
            (
                "older, Succeeded Unknown (running)",
                run(
                    "a",
                    Some("2024-05-01T09:00:00Z"),
                    json!({"conditions": [{"type": "Succeeded", "status": "Unknown"}]}),
                ),
                Verdict::Cancel,
            ),
            (
                "the new run itself",
                run("new", Some("2024-05-01T09:00:00Z"), Value::Null),
                Verdict::Itself,
            ),
            (
                "succeeded",
                run(
                    "a",
                    Some("2024-05-01T09:00:00Z"),
                    json!({"conditions": [{"type": "Succeeded", "status": "True"}]}),
                ),
                Verdict::Finished,
            ),
            (
                "failed",
                run(
                    "a",
                    Some("2024-05-01T09:00:00Z"),
                    json!({"conditions": [{"type": "Succeeded", "status": "False"}]}),
                ),
                Verdict::Finished,
            ),
            (
                "same stamp",
                run("a", Some("2024-05-01T12:00:00+02:00"), Value::Null),
                Verdict::NotOlder,
            ),
            (
                "newer stamp (an old event arrived late)",
                run("a", Some("2024-05-01T10:00:01Z"), Value::Null),
                Verdict::NotOlder,
            ),
            ("no stamp", run("a", None, Value::Null), Verdict::NoOrder),
            (
                "unreadable stamp",
                run("a", Some("soon"), Value::Null),
                Verdict::NoOrder,
            ),
        ];
        for (name, run, want) in cases {
            assert_eq!(judge(&run, "new", now), want, "{name}");
        }
        let mut cancelled = run("a", Some("2024-05-01T09:00:00Z"), Value::Null);
        cancelled["spec"]["status"] = json!("Cancelled");
        assert_eq!(judge(&cancelled, "new", now), Verdict::AlreadyCancelled);
    }

    #[test]
    fn cancel_status_reads_tektons_spellings_only() {
        for status in [CancelStatus::CancelledRunFinally, CancelStatus::Cancelled] {
            assert_eq!(CancelStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(CancelStatus::parse("cancelled"), None);
        assert_eq!(CancelStatus::default(), CancelStatus::CancelledRunFinally);
    }
}

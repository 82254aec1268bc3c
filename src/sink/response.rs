//! THE mapping from request errors and trigger outcomes to HTTP statuses and Tekton's JSON body
//! (reference §2.3, §2.4).
//!
//! | situation | status |
//! |---|---|
//! | body not a JSON object (`null` passes, as upstream) | 400 |
//! | delivery ID header empty, over 256 bytes or not visible ASCII | 400 |
//! | body over the size limit | 413 |
//! | body not received within the event deadline | 408 |
//! | body cut short or unreadable (the client's fault) | 400 |
//! | events or body bytes in flight past `--max-inflight-events` / `--max-inflight-body-bytes` | 503 + `Retry-After: 1` |
//! | the triggers did not finish within the event deadline | 503 |
//! | a trigger failed in a way a retry may fix (creating an object; reading a Secret: "could not read Secret ns/name") | 503 |
//! | a trigger failed creating an object in a way a retry cannot fix (e.g. AlreadyExists) | 500 |
//! | nothing created and at least one trigger stopped on authentication | 403 |
//! | otherwise (created, filtered, binding or template errors) | 202 |
//!
//! Upstream answers 202 before running any trigger; here the answer waits for every trigger, so
//! the sender learns about failures it can retry and about bad signatures. Bodies always carry
//! the eventID (upstream's 400 does not) and never internal error details or trigger names: those
//! are in the log, under the same eventID.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::event_listener::Listener;
use crate::interceptors::StopReason;
use crate::metrics::{Metrics, Outcome, Rejection};
use crate::trigger::{TriggerOutcome, TriggerReport};

/// Problems with the request itself, found before any trigger runs.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The body is not a JSON object (400). The message follows Go's `encoding/json` where the
    /// case is common.
    #[error("Invalid event body format : {0}")]
    InvalidBody(String),
    /// The delivery ID header cannot be used (400).
    #[error(transparent)]
    InvalidDeliveryId(#[from] crate::event::InvalidDeliveryId),
    /// The body is larger than the limit (413).
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The body did not arrive within the event deadline (408).
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// The body could not be read: cut short or malformed by the client (400).
    #[error("the request body could not be read: {0}")]
    BodyRead(String),
    /// A budget for work in flight is spent (503 with `Retry-After`).
    #[error(transparent)]
    Overloaded(#[from] super::limits::Overloaded),
    /// No configuration is loaded yet (503; cluster mode before the first sync).
    #[error("EventListener configuration not loaded yet; retry later")]
    NotReady,
    /// Processing failed unexpectedly (500; details in the log).
    #[error("internal error; see the listener log under this eventID")]
    Internal,
    /// The triggers did not finish within the event deadline (503, upstream's text).
    #[error("EventListener Timeout!")]
    Timeout,
}

impl RequestError {
    /// Why `eventlistener_requests_rejected_total` counts this request; `None` for answers that
    /// are the listener's state, not the request's (not ready, internal errors).
    pub fn rejection(&self) -> Option<Rejection> {
        match self {
            RequestError::InvalidBody(_)
            | RequestError::InvalidDeliveryId(_)
            | RequestError::BodyRead(_) => Some(Rejection::InvalidBody),
            RequestError::BodyTooLarge { .. } => Some(Rejection::BodyTooLarge),
            RequestError::BodyTimeout | RequestError::Timeout => Some(Rejection::Timeout),
            RequestError::Overloaded(_) => Some(Rejection::Overloaded),
            RequestError::NotReady | RequestError::Internal => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            RequestError::InvalidBody(_) | RequestError::InvalidDeliveryId(_) => {
                StatusCode::BAD_REQUEST
            }
            RequestError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RequestError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            RequestError::BodyRead(_) => StatusCode::BAD_REQUEST,
            RequestError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            RequestError::Timeout | RequestError::NotReady | RequestError::Overloaded(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

/// Tekton's response body (§2.4): field order and names as upstream, then this listener's
/// `triggers` (absent unless the request passed a signature or token check).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    event_listener: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    namespace: &'a str,
    #[serde(rename = "eventListenerUID")]
    event_listener_uid: &'a str,
    #[serde(rename = "eventID", skip_serializing_if = "str::is_empty")]
    event_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    triggers: Option<Vec<TriggerDetail<'a>>>,
}

/// One trigger in the response's `triggers` field, written straight from its report:
/// `{"name", "outcome", "created": ["kind/namespace/name", …], "reason"?}`. `outcome` is
/// `created`, `filtered`, `failed` or `duplicate`; `created` lists every object this trigger
/// created (or found already created by an earlier delivery of the same delivery ID);
/// `reason` says why it was filtered or failed, and is absent otherwise. Nothing is formatted
/// into a string of its own first: the names and the reason are written into the answer.
#[derive(Debug)]
struct TriggerDetail<'a>(&'a TriggerReport);

impl Serialize for TriggerDetail<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let report = self.0;
        let (created, reason): (&[crate::resources::Created], Option<Reason<'_>>) =
            match &report.outcome {
                TriggerOutcome::Created(created) => (created, None),
                TriggerOutcome::Stopped {
                    interceptor,
                    message,
                    ..
                } => (
                    &[],
                    Some(Reason::Stopped {
                        interceptor: interceptor.as_str(),
                        message: message.as_str(),
                    }),
                ),
                TriggerOutcome::Failed { created, error } => (created, Some(Reason::Failed(error))),
            };
        let mut detail =
            serializer.serialize_struct("TriggerDetail", if reason.is_some() { 4 } else { 3 })?;
        detail.serialize_field("name", &report.trigger.name)?;
        detail.serialize_field("outcome", outcome_of(&report.outcome).as_str())?;
        detail.serialize_field("created", &CreatedNames(created))?;
        if let Some(reason) = reason {
            detail.serialize_field("reason", &reason)?;
        }
        detail.end()
    }
}

/// `created` of a [`TriggerDetail`]: `kind/namespace/name` of each object.
struct CreatedNames<'a>(&'a [crate::resources::Created]);

impl Serialize for CreatedNames<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(CreatedName))
    }
}

/// One name of [`CreatedNames`].
struct CreatedName<'a>(&'a crate::resources::Created);

impl Serialize for CreatedName<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        serializer.collect_str(&format_args!("{}/{}/{}", c.kind, c.namespace, c.name))
    }
}

/// `reason` of a [`TriggerDetail`].
enum Reason<'a> {
    /// `interceptor <name>: <message>`.
    Stopped {
        interceptor: &'a str,
        message: &'a str,
    },
    /// The error's own text.
    Failed(&'a crate::trigger::Error),
}

impl Serialize for Reason<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Reason::Stopped {
                interceptor,
                message,
            } => serializer.collect_str(&format_args!("interceptor {interceptor}: {message}")),
            Reason::Failed(error) => serializer.collect_str(error),
        }
    }
}

/// How a trigger ended, in the one vocabulary the answer's `triggers` field and the metrics
/// share: `created`, `duplicate` (everything already existed for this delivery ID), `filtered`,
/// `failed`.
fn outcome_of(outcome: &TriggerOutcome) -> Outcome {
    match outcome {
        TriggerOutcome::Created(created) if crate::resources::only_duplicates(created) => {
            Outcome::Duplicate
        }
        TriggerOutcome::Created(_) => Outcome::Created,
        TriggerOutcome::Stopped { .. } => Outcome::Filtered,
        TriggerOutcome::Failed { .. } => Outcome::Failed,
    }
}

/// Counts one event's reports in `metrics`: each trigger's outcome, each object created by a
/// trigger that created all of its own (upstream's `eventlistener_triggered_resources_total`;
/// objects found already created for the delivery ID are not counted again), and a signature
/// rejection when the answer is 403.
pub fn record_event(metrics: &Metrics, reports: &[TriggerReport]) {
    for report in reports {
        metrics.trigger_outcome(&report.trigger.name, outcome_of(&report.outcome));
        if let TriggerOutcome::Created(created) = &report.outcome {
            for object in created.iter().filter(|c| !c.duplicate) {
                metrics.resource_created(&object.kind);
            }
        }
    }
    let outcomes: Vec<&TriggerOutcome> = reports.iter().map(|r| &r.outcome).collect();
    if matches!(verdict(&outcomes), Verdict::Unauthenticated(_)) {
        metrics.rejected(Rejection::Signature);
    }
}

/// Tekton's answer body (reference §2.4), compact, without a trailing newline.
fn json_body(
    listener: &Listener,
    event_id: &str,
    error_message: Option<&str>,
    triggers: Option<Vec<TriggerDetail<'_>>>,
) -> String {
    let body = Body {
        event_listener: &listener.name,
        namespace: &listener.namespace,
        event_listener_uid: &listener.uid,
        event_id,
        error_message,
        triggers,
    };
    // Room for the fixed fields and a created trigger or two: one allocation, no growth.
    let mut text = Vec::with_capacity(
        ANSWER_ROOM + body.triggers.as_ref().map_or(0, |t| t.len() * TRIGGER_ROOM),
    );
    match serde_json::to_writer(&mut text, &body) {
        // serde_json writes UTF-8 only.
        Ok(()) => String::from_utf8(text).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Bytes reserved for an answer's fixed fields and its trailing newline.
const ANSWER_ROOM: usize = 256;
/// Bytes reserved per entry of an answer's `triggers`.
const TRIGGER_ROOM: usize = 192;

fn json_response(
    status: StatusCode,
    listener: &Listener,
    event_id: &str,
    error_message: Option<&str>,
    triggers: Option<Vec<TriggerDetail<'_>>>,
) -> Response {
    let mut text = json_body(listener, event_id, error_message, triggers);
    text.push('\n');
    // Made directly: `(status, text).into_response()` would first insert a text/plain
    // content type, only for it to be replaced.
    let mut response = Response::new(axum::body::Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The response for a request rejected before any trigger ran.
pub fn request_error(listener: &Listener, event_id: &str, error: &RequestError) -> Response {
    let mut response = json_response(
        error.status(),
        listener,
        event_id,
        Some(&error.to_string()),
        None,
    );
    if matches!(error, RequestError::Overloaded(_)) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The answer for one event once every trigger has finished: status and `errorMessage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// 202, no message.
    Accepted,
    /// 403 with the first authentication failure's message.
    Unauthenticated(usize),
    /// 503: a trigger failed in a way a retry may fix.
    Retry,
    /// 500: a trigger failed creating an object in a way a retry cannot fix, or the listener
    /// failed.
    Failed,
}

/// The module table's decision, in one place: retryable failures win (the sender must retry;
/// with a delivery ID the retry cannot duplicate what already succeeded), then permanent
/// creation failures and internal errors, then "nothing created and someone failed to
/// authenticate", then 202.
fn verdict(outcomes: &[&TriggerOutcome]) -> Verdict {
    let mut retryable = false;
    let mut failed = false;
    let mut created_any = false;
    let mut unauthenticated: Option<usize> = None;
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            TriggerOutcome::Created(c) => created_any |= !c.is_empty(),
            TriggerOutcome::Stopped {
                reason: StopReason::Unauthenticated,
                ..
            } => {
                unauthenticated.get_or_insert(i);
            }
            TriggerOutcome::Stopped { .. } => {}
            TriggerOutcome::Failed { created, error } => {
                created_any |= !created.is_empty();
                if error.is_retryable() {
                    retryable = true;
                } else if matches!(
                    error,
                    crate::trigger::Error::Create { .. } | crate::trigger::Error::Internal(_)
                ) {
                    failed = true;
                }
            }
        }
    }
    match (retryable, failed, created_any, unauthenticated) {
        (true, _, _, _) => Verdict::Retry,
        (false, true, _, _) => Verdict::Failed,
        (false, false, false, Some(i)) => Verdict::Unauthenticated(i),
        _ => Verdict::Accepted,
    }
}

/// The first Secret that an interceptor could not read (`namespace`, `name`), if any.
fn unreadable_secret<'a>(outcomes: &[&'a TriggerOutcome]) -> Option<(&'a str, &'a str)> {
    outcomes.iter().find_map(|outcome| match outcome {
        TriggerOutcome::Failed {
            error:
                crate::trigger::Error::Interceptor {
                    source:
                        crate::interceptors::Error::Secret(crate::secrets::Error::Unavailable {
                            namespace,
                            name,
                            ..
                        })
                        | crate::interceptors::Error::GitHubToken(
                            crate::secrets::Error::Unavailable {
                                namespace, name, ..
                            },
                        ),
                    ..
                },
            ..
        } => Some((namespace.as_str(), name.as_str())),
        _ => None,
    })
}

/// True when a github interceptor failed because the GitHub API did (a retry may succeed).
fn github_api_failed(outcomes: &[&TriggerOutcome]) -> bool {
    outcomes.iter().any(|outcome| {
        matches!(
            outcome,
            TriggerOutcome::Failed {
                error: crate::trigger::Error::Interceptor {
                    source: crate::interceptors::Error::GitHubApi { .. },
                    ..
                },
                ..
            }
        )
    })
}

/// The name of the first interceptor that failed to decide (an interceptor over HTTP that gave
/// no usable answer), if any: its name only, the cause is in the log.
fn failed_interceptor<'a>(outcomes: &[&'a TriggerOutcome]) -> Option<&'a str> {
    outcomes.iter().find_map(|outcome| match outcome {
        TriggerOutcome::Failed {
            error: crate::trigger::Error::Interceptor { interceptor, .. },
            ..
        } => Some(interceptor.as_str()),
        _ => None,
    })
}

/// What [`event_response`] may say besides upstream's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detail {
    /// `--response-detail`: list every trigger's outcome in `triggers`.
    pub enabled: bool,
    /// The request passed at least one signature or token check: only then is `triggers` shown
    /// (an unauthenticated sender learns nothing about the configuration).
    pub authenticated: bool,
}

/// How an accepted event's answer is framed (reference §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Tekton's JSON body, with a trailing newline.
    Json,
    /// The request was a CloudEvent (header `Ce-Specversion: 1.0` or `0.3`, or `Content-Type`
    /// `application/cloudevents+json` or `application/cloudevents-batch+json`): the 202 is a
    /// binary-mode CloudEvent of type `dev.tekton.event.triggers.accepted.v1` whose data is the
    /// same JSON, without the newline, as upstream's SDK writes it.
    CloudEvent,
}

impl Framing {
    /// Reads the request's headers as upstream's CloudEvents SDK does.
    pub fn of(headers: &axum::http::HeaderMap) -> Self {
        let binary = headers
            .get("ce-specversion")
            .is_some_and(|v| v == "1.0" || v == "0.3");
        let structured = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim())
            .is_some_and(|media| {
                media.eq_ignore_ascii_case("application/cloudevents+json")
                    || media.eq_ignore_ascii_case("application/cloudevents-batch+json")
            });
        if binary || structured {
            Self::CloudEvent
        } else {
            Self::Json
        }
    }
}

/// Upstream's `ce-type` of the answer to an incoming CloudEvent (reference §2.5).
pub const ACCEPTED_EVENT_TYPE: &str = "dev.tekton.event.triggers.accepted.v1";

/// The response once every trigger has finished (see the module table); a 202 framed as
/// `framing` says.
pub fn event_response(
    listener: &Listener,
    event_id: &str,
    reports: &[TriggerReport],
    detail_of: Detail,
    framing: Framing,
) -> Response {
    let outcomes: Vec<&TriggerOutcome> = reports.iter().map(|r| &r.outcome).collect();
    let triggers = (detail_of.enabled && detail_of.authenticated)
        .then(|| reports.iter().map(TriggerDetail).collect());
    let (status, message) = match verdict(&outcomes) {
        Verdict::Retry => {
            // A Secret that could not be read is said as such: nothing was wrong with the
            // event, and the sender's retry will be checked against it.
            let message = match (unreadable_secret(&outcomes), failed_interceptor(&outcomes)) {
                (Some((namespace, name)), _) => {
                    format!("could not read Secret {namespace}/{name}; retry the delivery")
                }
                (None, Some(_)) if github_api_failed(&outcomes) => "the GitHub API failed for a github interceptor; retry the delivery (details in the listener log under this eventID)".to_owned(),
                (None, Some(interceptor)) => format!(
                    "interceptor {interceptor} failed; retry the delivery (details in the listener log under this eventID)"
                ),
                (None, None) => "a trigger failed to create its resources; retry the delivery (details in the listener log under this eventID)".to_owned(),
            };
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                listener,
                event_id,
                Some(&message),
                triggers,
            );
        }
        Verdict::Failed => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(
                "a trigger failed to create its resources (details in the listener log under this eventID)",
            ),
        ),
        Verdict::Unauthenticated(i) => {
            let message = match outcomes.get(i) {
                Some(TriggerOutcome::Stopped { message, .. }) => message.as_str(),
                _ => "unauthenticated",
            };
            return json_response(
                StatusCode::FORBIDDEN,
                listener,
                event_id,
                Some(message),
                triggers,
            );
        }
        Verdict::Accepted if framing == Framing::CloudEvent => {
            return accepted_cloud_event(listener, event_id, triggers);
        }
        Verdict::Accepted => (StatusCode::ACCEPTED, None),
    };
    json_response(status, listener, event_id, message, triggers)
}

/// 202 as a binary-mode CloudEvent (reference §2.5): `ce-source` the EventListener's name,
/// `ce-subject` `<namespace>.<name> accepted <eventID>`.
fn accepted_cloud_event(
    listener: &Listener,
    event_id: &str,
    triggers: Option<Vec<TriggerDetail<'_>>>,
) -> Response {
    let text = json_body(listener, event_id, None, triggers);
    let mut response = (StatusCode::ACCEPTED, text).into_response();
    let subject = format!(
        "{}.{} accepted {event_id}",
        listener.namespace, listener.name
    );
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("ce-specversion", HeaderValue::from_static("1.0"));
    headers.insert("ce-type", HeaderValue::from_static(ACCEPTED_EVENT_TYPE));
    for (name, value) in [
        ("ce-id", event_id),
        ("ce-source", listener.name.as_str()),
        ("ce-subject", subject.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Created;
    use crate::trigger::Error;

    fn created(duplicate: bool) -> Created {
        Created {
            api_version: "tekton.dev/v1".into(),
            kind: "PipelineRun".into(),
            namespace: "ci".into(),
            name: "run-1".into(),
            duplicate,
        }
    }

    fn stopped(reason: StopReason) -> TriggerOutcome {
        TriggerOutcome::Stopped {
            interceptor: "github".into(),
            reason,
            message: format!("{} message", reason.as_str()),
        }
    }

    fn failed(error: Error, created_before: usize) -> TriggerOutcome {
        TriggerOutcome::Failed {
            created: (0..created_before).map(|_| created(false)).collect(),
            error,
        }
    }

    fn retryable() -> Error {
        Error::Create {
            kind: "PipelineRun".into(),
            source: crate::resources::Error::Kube {
                message: "connection reset".into(),
                retryable: true,
            },
        }
    }

    fn permanent() -> Error {
        Error::Create {
            kind: "PipelineRun".into(),
            source: crate::resources::Error::AlreadyExists {
                kind: "PipelineRun".into(),
                namespace: "ci".into(),
                name: "x".into(),
            },
        }
    }

    fn secret_unavailable() -> Error {
        Error::Interceptor {
            interceptor: "github".into(),
            source: crate::interceptors::Error::Secret(crate::secrets::Error::Unavailable {
                namespace: "ci".into(),
                name: "s".into(),
                message: "timeout".into(),
            }),
        }
    }

    fn template_error() -> Error {
        Error::Template(crate::template::Error::NoResources)
    }

    /// Which status wins when triggers end differently: one row per case.
    #[test]
    fn the_status_decision_table() {
        use StopReason::{Filtered, Unauthenticated};
        let rows: Vec<(&str, Vec<TriggerOutcome>, Verdict)> = vec![
            ("no triggers", vec![], Verdict::Accepted),
            (
                "created",
                vec![TriggerOutcome::Created(vec![created(false)])],
                Verdict::Accepted,
            ),
            (
                "duplicate",
                vec![TriggerOutcome::Created(vec![created(true)])],
                Verdict::Accepted,
            ),
            ("filtered only", vec![stopped(Filtered)], Verdict::Accepted),
            (
                "unauthenticated only",
                vec![stopped(Unauthenticated)],
                Verdict::Unauthenticated(0),
            ),
            (
                "filtered, then unauthenticated",
                vec![stopped(Filtered), stopped(Unauthenticated)],
                Verdict::Unauthenticated(1),
            ),
            (
                "created beats unauthenticated",
                vec![
                    stopped(Unauthenticated),
                    TriggerOutcome::Created(vec![created(false)]),
                ],
                Verdict::Accepted,
            ),
            (
                "partial creation beats unauthenticated",
                vec![stopped(Unauthenticated), failed(template_error(), 1)],
                Verdict::Accepted,
            ),
            (
                "template error is the config's, not retryable",
                vec![failed(template_error(), 0)],
                Verdict::Accepted,
            ),
            (
                "retryable create failure",
                vec![failed(retryable(), 0)],
                Verdict::Retry,
            ),
            (
                "secret unavailable",
                vec![failed(secret_unavailable(), 0)],
                Verdict::Retry,
            ),
            (
                "permanent create failure",
                vec![failed(permanent(), 0)],
                Verdict::Failed,
            ),
            (
                "internal error",
                vec![failed(Error::Internal("panic".into()), 0)],
                Verdict::Failed,
            ),
            (
                "retryable beats permanent",
                vec![failed(permanent(), 0), failed(retryable(), 0)],
                Verdict::Retry,
            ),
            (
                "retryable beats created and unauthenticated",
                vec![
                    TriggerOutcome::Created(vec![created(false)]),
                    stopped(Unauthenticated),
                    failed(retryable(), 0),
                ],
                Verdict::Retry,
            ),
            (
                "permanent beats unauthenticated",
                vec![stopped(Unauthenticated), failed(permanent(), 0)],
                Verdict::Failed,
            ),
        ];
        for (name, outcomes, expected) in rows {
            let refs: Vec<&TriggerOutcome> = outcomes.iter().collect();
            assert_eq!(verdict(&refs), expected, "{name}");
        }
    }

    #[test]
    fn request_errors_map_to_statuses() {
        let rows = [
            (RequestError::InvalidBody("x".into()), 400),
            (RequestError::BodyRead("cut short".into()), 400),
            (RequestError::BodyTooLarge { limit: 1 }, 413),
            (RequestError::BodyTimeout, 408),
            (RequestError::NotReady, 503),
            (RequestError::Timeout, 503),
            (
                RequestError::Overloaded(super::super::limits::Overloaded::Events(1)),
                503,
            ),
            (RequestError::Internal, 500),
        ];
        for (error, status) in rows {
            assert_eq!(error.status().as_u16(), status, "{error}");
        }
    }
}

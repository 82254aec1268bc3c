//! THE mapping from request errors and trigger outcomes to HTTP statuses and Tekton's JSON body
//! (reference §2.3, §2.4).
//!
//! | situation | status |
//! |---|---|
//! | body not a JSON object (`null` passes, as upstream) | 400 |
//! | body over the size limit | 413 |
//! | body not received within the event deadline | 408 |
//! | body could not be read | 500 |
//! | the triggers did not finish within the event deadline | 503 |
//! | a trigger failed in a way a retry may fix (creating an object, reading a secret) | 503 |
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

use crate::interceptors::StopReason;
use crate::listener::Listener;
use crate::trigger::TriggerOutcome;

/// Problems with the request itself, found before any trigger runs.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The body is not a JSON object (400). The message follows Go's `encoding/json` where the
    /// case is common.
    #[error("Invalid event body format : {0}")]
    InvalidBody(String),
    /// The body is larger than the limit (413).
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The body did not arrive within the event deadline (408).
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// The body could not be read (500).
    #[error("failed to read the request body")]
    BodyRead,
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
    fn status(&self) -> StatusCode {
        match self {
            RequestError::InvalidBody(_) => StatusCode::BAD_REQUEST,
            RequestError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RequestError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            RequestError::BodyRead | RequestError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            RequestError::Timeout | RequestError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Parses the body as upstream's payload validation does: a JSON object, or `null`.
///
/// # Errors
/// [`RequestError::InvalidBody`] with Go-like messages for empty bodies and non-objects.
pub fn parse_body(bytes: &[u8]) -> Result<serde_json::Value, RequestError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(RequestError::InvalidBody(
            "unexpected end of JSON input".into(),
        ));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| RequestError::InvalidBody(e.to_string()))?;
    let go_type = match &value {
        serde_json::Value::Object(_) | serde_json::Value::Null => return Ok(value),
        serde_json::Value::Array(_) => "array",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
    };
    Err(RequestError::InvalidBody(format!(
        "json: cannot unmarshal {go_type} into Go value of type map[string]interface {{}}"
    )))
}

/// Tekton's response body (§2.4): field order and names as upstream.
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
}

fn json_response(
    status: StatusCode,
    listener: &Listener,
    event_id: &str,
    error_message: Option<&str>,
) -> Response {
    let body = Body {
        event_listener: &listener.name,
        namespace: &listener.namespace,
        event_listener_uid: &listener.uid,
        event_id,
        error_message,
    };
    let mut text = serde_json::to_string(&body).unwrap_or_default();
    text.push('\n');
    let mut response = (status, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The response for a request rejected before any trigger ran.
pub fn request_error(listener: &Listener, event_id: &str, error: &RequestError) -> Response {
    json_response(error.status(), listener, event_id, Some(&error.to_string()))
}

/// The response once every trigger has finished (see the module table).
pub fn event_response(
    listener: &Listener,
    event_id: &str,
    outcomes: &[TriggerOutcome],
) -> Response {
    let mut retryable = false;
    let mut failed_create = false;
    let mut created_any = false;
    let mut unauthenticated: Option<&str> = None;
    for outcome in outcomes {
        match outcome {
            TriggerOutcome::Created(c) => created_any |= !c.is_empty(),
            TriggerOutcome::Stopped {
                reason: StopReason::Unauthenticated,
                message,
                ..
            } => {
                unauthenticated.get_or_insert(message);
            }
            TriggerOutcome::Stopped { .. } => {}
            TriggerOutcome::Failed { created, error } => {
                created_any |= !created.is_empty();
                if error.is_retryable() {
                    retryable = true;
                } else if matches!(error, crate::trigger::Error::Create { .. }) {
                    failed_create = true;
                }
            }
        }
    }
    if retryable {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            listener,
            event_id,
            Some(
                "a trigger failed to create its resources; retry the delivery (details in the listener log under this eventID)",
            ),
        );
    }
    if failed_create {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            listener,
            event_id,
            Some(
                "a trigger failed to create its resources (details in the listener log under this eventID)",
            ),
        );
    }
    if let (false, Some(reason)) = (created_any, unauthenticated) {
        return json_response(StatusCode::FORBIDDEN, listener, event_id, Some(reason));
    }
    json_response(StatusCode::ACCEPTED, listener, event_id, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_must_be_an_object_or_null() {
        assert!(parse_body(b"{\"a\":1}").is_ok());
        assert!(parse_body(b"null").is_ok());
        assert_eq!(
            parse_body(b"").unwrap_err().to_string(),
            "Invalid event body format : unexpected end of JSON input"
        );
        assert_eq!(
            parse_body(b"[1]").unwrap_err().to_string(),
            "Invalid event body format : json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        assert!(parse_body(b"{\"a\":").is_err());
    }
}

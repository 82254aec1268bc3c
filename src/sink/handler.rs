//! Request handlers: thin shells over `trigger::process`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use tokio::task::JoinSet;
use tracing::Instrument as _;

use super::AppState;
use super::response::{self, RequestError};
use crate::event::{Event, Headers, new_event_id};
use crate::interceptors::SharedEvent;
use crate::trigger::{ProcessContext, TriggerOutcome, process};

/// `/live` and `/ready`: 200 `ok` once serving (§2.1).
pub(super) async fn health() -> &'static str {
    "ok"
}

/// Every other path and method: one event.
pub(super) async fn handle_event(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let event_id = new_event_id();
    let span = tracing::info_span!("event", event_id = %event_id);
    async move {
        let listener = &state.listener;
        let event = match read_event(&state, &event_id, &uri, &headers, body).await {
            Ok(event) => event,
            Err(e) => {
                tracing::info!(error = %e, "event rejected");
                return response::request_error(listener, &event_id, &e);
            }
        };
        tracing::debug!(url = %event.request_url(), "event received");
        let shared = Arc::new(SharedEvent::with_body_paths(
            Arc::new(event),
            Arc::clone(&listener.cel_body_paths),
        ));
        let mut tasks = JoinSet::new();
        for (index, trigger) in listener.triggers.iter().enumerate() {
            let (trigger, shared, state) =
                (Arc::clone(trigger), Arc::clone(&shared), state.clone());
            let span = tracing::info_span!("trigger", trigger = %trigger.name);
            tasks.spawn(
                async move {
                    let ctx = ProcessContext {
                        event_listener: &state.listener.name,
                        creator: state.creator.as_ref(),
                    };
                    let outcome = process(&trigger, &shared, ctx).await;
                    log_outcome(&outcome);
                    (index, outcome)
                }
                .instrument(span),
            );
        }
        let mut outcomes: Vec<(usize, TriggerOutcome)> =
            Vec::with_capacity(listener.triggers.len());
        let joined_all = tokio::time::timeout(state.event_timeout, async {
            while let Some(joined) = tasks.join_next().await {
                match joined {
                    Ok(done) => outcomes.push(done),
                    Err(e) => tracing::error!(error = %e, "trigger task panicked"),
                }
            }
        })
        .await;
        if joined_all.is_err() {
            // Dropping the JoinSet cancels the triggers still running.
            tracing::warn!(
                finished = outcomes.len(),
                timeout_secs = state.event_timeout.as_secs(),
                "event timed out"
            );
            return response::request_error(listener, &event_id, &RequestError::Timeout);
        }
        outcomes.sort_by_key(|(i, _)| *i);
        let outcomes: Vec<TriggerOutcome> = outcomes.into_iter().map(|(_, o)| o).collect();
        response::event_response(listener, &event_id, &outcomes)
    }
    .instrument(span)
    .await
}

async fn read_event(
    state: &AppState,
    event_id: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Event, RequestError> {
    let limit = state.max_body_bytes;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(RequestError::BodyTooLarge { limit });
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = e
            .into_inner()
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some();
        if too_large {
            RequestError::BodyTooLarge { limit }
        } else {
            RequestError::BodyRead
        }
    })?;
    let body = response::parse_body(&bytes)?;
    let mut event_headers = Headers::new();
    for (name, value) in headers {
        if name == axum::http::header::HOST || name == axum::http::header::TRANSFER_ENCODING {
            continue;
        }
        event_headers.append(name.as_str(), String::from_utf8_lossy(value.as_bytes()));
    }
    let url = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    Ok(Event::new(
        event_id,
        url,
        event_headers,
        // One copy into the event's `Arc<[u8]>` (`to_vec()` first made two).
        &bytes[..],
        body,
    ))
}

/// One structured line per trigger: what it created, or what stopped it and why, or what failed.
fn log_outcome(outcome: &TriggerOutcome) {
    match outcome {
        TriggerOutcome::Created(created) => {
            let names: Vec<String> = created
                .iter()
                .map(|c| format!("{}/{}/{}", c.kind, c.namespace, c.name))
                .collect();
            tracing::info!(outcome = "created", created = %names.join(","), "trigger created resources");
        }
        TriggerOutcome::Stopped {
            interceptor,
            reason,
            message,
        } => tracing::info!(
            outcome = "stopped",
            interceptor = %interceptor,
            reason = reason.as_str(),
            message = %message,
            "interceptor stopped trigger processing"
        ),
        TriggerOutcome::Failed { created, error } => tracing::error!(
            outcome = "failed",
            stage = error.stage(),
            error = %error,
            created_before_failure = created.len(),
            "trigger failed"
        ),
    }
}

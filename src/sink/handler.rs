//! Request handlers: thin shells over `trigger::process`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use tokio::task::JoinSet;
use tracing::Instrument as _;

use super::AppState;
use super::response::{self, RequestError};
use crate::event::{Event, Headers, new_event_id};
use crate::interceptors::SharedEvent;
use crate::listener::Listener;
use crate::resources::Creator;
use crate::trigger::{ProcessContext, TriggerOutcome, process};

/// `/live`: 200 `ok` while the process serves (§2.1).
pub(super) async fn live() -> &'static str {
    "ok"
}

/// `/ready`: 200 `ok` once a configuration is loaded (in cluster mode, after the first full
/// sync), else 503.
pub(super) async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.listener.current().is_some() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no EventListener configuration loaded yet",
        )
    }
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
        let Some(listener) = state.listener.current() else {
            return response::request_error(
                &state.listener.placeholder(),
                &event_id,
                &RequestError::NotReady,
            );
        };
        // The body must arrive within the event deadline too: a sender trickling it would
        // otherwise hold the connection and its buffer forever.
        let read = tokio::time::timeout(
            state.event_timeout,
            read_event(&state, &event_id, &uri, &headers, body),
        );
        let event = match read.await.unwrap_or(Err(RequestError::BodyTimeout)) {
            Ok(event) => event,
            Err(e) => {
                tracing::info!(error = %e, "event rejected");
                return response::request_error(&listener, &event_id, &e);
            }
        };
        tracing::debug!(url = %event.request_url(), "event received");
        let shared = Arc::new(SharedEvent::with_body_paths(
            Arc::new(event),
            Arc::clone(&listener.cel_body_paths),
        ));
        // The triggers run in their own task: if the sender hangs up, the handler is dropped but
        // the work goes on to completion (or to the event deadline), as upstream's does.
        let work = tokio::spawn(
            run_triggers(
                Arc::clone(&listener),
                shared,
                Arc::clone(&state.creator),
                state.event_timeout,
            )
            .in_current_span(),
        );
        match work.await {
            Ok(Some(outcomes)) => response::event_response(&listener, &event_id, &outcomes),
            Ok(None) => response::request_error(&listener, &event_id, &RequestError::Timeout),
            Err(e) => {
                tracing::error!(error = %e, "event task failed");
                response::request_error(&listener, &event_id, &RequestError::Internal)
            }
        }
    }
    .instrument(span)
    .await
}

/// Runs every trigger of `listener` concurrently for one event; their outcomes in trigger order,
/// or `None` when `deadline` passed first (the triggers still running are then cancelled).
async fn run_triggers(
    listener: Arc<Listener>,
    event: Arc<SharedEvent>,
    creator: Arc<dyn Creator>,
    deadline: Duration,
) -> Option<Vec<TriggerOutcome>> {
    let mut tasks = JoinSet::new();
    for (index, trigger) in listener.triggers.iter().enumerate() {
        let (trigger, event, creator) = (
            Arc::clone(trigger),
            Arc::clone(&event),
            Arc::clone(&creator),
        );
        let listener = Arc::clone(&listener);
        let span = tracing::info_span!("trigger", trigger = %trigger.name);
        tasks.spawn(
            async move {
                let ctx = ProcessContext {
                    event_listener: &listener.name,
                    creator: creator.as_ref(),
                };
                let outcome = process(&trigger, &event, ctx).await;
                log_outcome(&outcome);
                (index, outcome)
            }
            .instrument(span),
        );
    }
    let mut outcomes: Vec<(usize, TriggerOutcome)> = Vec::with_capacity(listener.triggers.len());
    let joined_all = tokio::time::timeout(deadline, async {
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
            timeout_secs = deadline.as_secs(),
            "event timed out"
        );
        return None;
    }
    outcomes.sort_by_key(|(i, _)| *i);
    Some(outcomes.into_iter().map(|(_, o)| o).collect())
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

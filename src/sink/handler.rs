//! Request handlers: thin shells over `trigger::process`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use http_body_util::BodyExt as _;
use tracing::Instrument as _;

use super::AppState;
use super::limits::Admission;
use super::response::{self, RequestError};
use crate::cloud_events::CloudEvent;
use crate::event::{Event, Headers, NoticeKind, new_event_id};
use crate::trigger::{EventOutcome, RunOptions, run_event};

/// `/live`: 200 `ok` while the process serves (§2.1).
pub(super) async fn live() -> &'static str {
    "ok"
}

/// `/ready`: 200 once a configuration is loaded (in cluster mode, after the first full sync),
/// else 503; 503 from the moment a shutdown begins, so endpoints stop routing here. The 200's
/// body is `ok: ` and how current the configuration is ([`Freshness::describe`]): during an API
/// outage the last good configuration serves, the body says since when it is not in sync.
///
/// [`Freshness::describe`]: crate::event_listener::Freshness::describe
pub(super) async fn ready(State(state): State<Arc<AppState>>) -> (StatusCode, String) {
    if state.drain.is_draining() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: shutting down".into(),
        )
    } else if state.listener.current().is_some() {
        let freshness = state.listener.freshness().borrow().clone();
        let now = std::time::Instant::now();
        (StatusCode::OK, format!("ok: {}", freshness.describe(now)))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no EventListener configuration loaded yet".into(),
        )
    }
}

/// `/metrics`: every metric, with the configuration's gauges (generation, age, triggers by
/// state) read now.
pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    use axum::response::IntoResponse as _;
    let freshness = state.listener.freshness().borrow().clone();
    let (ready, broken) = state
        .listener
        .current()
        .map_or((0, 0), |l| (l.triggers.len(), l.broken.len()));
    state.metrics.configuration(
        freshness.generation,
        freshness.age(std::time::Instant::now()),
        ready,
        broken,
    );
    match state.metrics.encode() {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The headers that name an event's type, for its log lines: those its interceptors read.
static EVENT_TYPE_HEADERS: [axum::http::HeaderName; 3] = [
    crate::interceptors::github::EVENT_HEADER,
    crate::interceptors::gitlab::EVENT_HEADER,
    crate::interceptors::bitbucket::EVENT_HEADER,
];

/// Every other path and method: one event.
pub(super) async fn handle_event(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let event_id = new_event_id();
    let event_type = EVENT_TYPE_HEADERS
        .iter()
        .find_map(|name| headers.get(name).and_then(|v| v.to_str().ok()));
    let span = tracing::info_span!(
        "event",
        event_id = %event_id,
        delivery_id = tracing::field::Empty,
        event_type = event_type,
    );
    async move {
        let started = std::time::Instant::now();
        let in_flight = state.metrics.in_flight();
        let listener = state.listener.current();
        let progress = Progress::new(&state, &event_id, listener.as_deref(), &headers);
        progress.started();
        // Boxed where it is made: the answer's future is ~6.4 KB, and without the box this
        // block, its span and the event's task (`in_flight`) each held a copy of it, 27.7 KB
        // in all, moved whole from layer to layer (measured with `size_of_val` on the
        // release build; BENCHMARKS.md, "Stop 28").
        let response = Box::pin(answer_event(
            &state, listener, &progress, uri, headers, body,
        ))
        .await;
        progress.done();
        drop(in_flight);
        let elapsed = started.elapsed();
        state
            .metrics
            .answered(response.status().is_success(), elapsed);
        tracing::info!(
            status = response.status().as_u16(),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "answered"
        );
        response
    }
    .instrument(span)
    .await
}

/// Who hears of one event's steps: [`AppState::notices`] (upstream's per-event Kubernetes
/// Events) and, when the EventListener has a `cloudEventURI`, [`AppState::cloud_events`]
/// (reference §8.5).
struct Progress<'a> {
    state: &'a AppState,
    event_id: &'a str,
    cloud: Option<CloudTarget>,
}

/// Where one event's CloudEvents go, and what they say.
struct CloudTarget {
    uri: Arc<str>,
    namespace: String,
    name: String,
    /// The request's headers as Go marshals an `http.Header`: the data of most types.
    headers: bytes::Bytes,
}

impl<'a> Progress<'a> {
    /// Before the configuration is loaded, only `--cloudevent-uri` names a target, and the
    /// EventListener is named as the server was told (`--listener`, `--namespace`).
    fn new(
        state: &'a AppState,
        event_id: &'a str,
        listener: Option<&crate::event_listener::Listener>,
        headers: &HeaderMap,
    ) -> Self {
        let cloud = state.cloud_events.as_ref().and_then(|events| {
            let uri = events.target(listener.and_then(|l| l.cloud_event_uri.as_ref()))?;
            let (namespace, name) = match listener {
                Some(l) => (l.namespace.clone(), l.name.clone()),
                None => {
                    let l = state.listener.placeholder();
                    (l.namespace, l.name)
                }
            };
            Some(CloudTarget {
                uri,
                namespace,
                name,
                headers: Headers::from_http(headers.clone()).to_go_json().into(),
            })
        });
        Self {
            state,
            event_id,
            cloud,
        }
    }

    fn report(&self, kind: NoticeKind, message: Option<String>, with_headers: bool) {
        if let (Some(events), Some(target)) = (&self.state.cloud_events, &self.cloud) {
            events.send(CloudEvent::new(
                Arc::clone(&target.uri),
                kind,
                self.event_id,
                &target.namespace,
                &target.name,
                with_headers.then(|| target.headers.clone()),
            ));
        }
        self.state.notify(kind, self.event_id, message);
    }

    fn started(&self) {
        self.report(NoticeKind::Started, None, true);
    }

    /// The request was refused before any trigger ran.
    fn refused(&self, error: &RequestError) {
        self.report(NoticeKind::Failed, Some(error.to_string()), true);
    }

    /// The triggers did not finish within the event deadline.
    fn timed_out(&self) {
        self.report(
            NoticeKind::Failed,
            Some(RequestError::Timeout.to_string()),
            false,
        );
    }

    /// One per trigger that created everything (upstream: per trigger whose resources were all
    /// created), naming the trigger.
    fn successful(&self, reports: &[crate::trigger::TriggerReport]) {
        if self.state.notices.is_none() && self.cloud.is_none() {
            return;
        }
        for report in reports {
            if matches!(report.outcome, crate::trigger::TriggerOutcome::Created(_)) {
                self.report(
                    NoticeKind::Successful,
                    Some(format!("trigger {}", report.trigger.name)),
                    true,
                );
            }
        }
    }

    fn done(&self) {
        self.report(NoticeKind::Done, None, false);
    }
}

/// One event's answer.
async fn answer_event(
    state: &AppState,
    listener: Option<Arc<crate::event_listener::Listener>>,
    progress: &Progress<'_>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let event_id = progress.event_id;
    let Some(listener) = listener else {
        progress.refused(&RequestError::NotReady);
        return response::request_error(
            &state.listener.placeholder(),
            event_id,
            &RequestError::NotReady,
        );
    };
    let framing = response::Framing::of(&headers);
    // The body must arrive within the event deadline too: a sender trickling it would
    // otherwise hold the connection and its buffer forever.
    let read = tokio::time::timeout(
        state.event_timeout,
        read_event(state, &listener, event_id, &uri, headers, body),
    );
    let (event, admission) = match read.await.unwrap_or(Err(RequestError::BodyTimeout)) {
        Ok(read) => read,
        Err(e) => {
            tracing::info!(error = %e, "event rejected");
            if let Some(reason) = e.rejection() {
                state.metrics.rejected(reason);
            }
            progress.refused(&e);
            return response::request_error(&listener, event_id, &e);
        }
    };
    tracing::debug!(url = %event.request_url(), "event received");
    let shared = Arc::new(listener.share(Arc::new(event)));
    let options = RunOptions {
        concurrent: true,
        deadline: Some(state.event_timeout),
        explain: false,
        metrics: Some(Arc::clone(&state.metrics)),
    };
    // A sender hanging up does not cut the work (it moves to a task of its own,
    // `in_flight::Detach`), and a panic there is answered 500.
    let outcome = run_event(
        Arc::clone(&listener),
        Arc::clone(&shared),
        Arc::clone(&state.creator),
        options,
    )
    .await;
    // The event's budgets are given back when its work ends.
    drop(admission);
    match outcome {
        EventOutcome::Finished(reports) => {
            response::record_event(&state.metrics, &reports);
            progress.successful(&reports);
            let detail = response::Detail {
                enabled: state.response_detail,
                authenticated: shared.authenticated(),
            };
            response::event_response(&listener, event_id, &reports, detail, framing)
        }
        EventOutcome::TimedOut(reports) => {
            response::record_event(&state.metrics, &reports);
            if let Some(reason) = RequestError::Timeout.rejection() {
                state.metrics.rejected(reason);
            }
            progress.successful(&reports);
            progress.timed_out();
            response::request_error(&listener, event_id, &RequestError::Timeout)
        }
    }
}

async fn read_event(
    state: &AppState,
    listener: &crate::event_listener::Listener,
    event_id: &str,
    uri: &Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<(Event, Admission), RequestError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let event_headers = Headers::from_http(headers);
    // Found before the body is read, so that every line of this event names it, refusals too.
    let delivery_id = state.delivery_ids.find(&event_headers)?.map(str::to_owned);
    if let Some(id) = &delivery_id {
        tracing::Span::current().record("delivery_id", id.as_str());
    }
    let limit = state.max_body_bytes;
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(RequestError::BodyTooLarge { limit });
    }
    // Decided from Content-Length before the body is read; a chunked body is counted as it
    // arrives.
    let mut admission = state.limits.admit(declared)?;
    let mut bytes = Collected::Empty;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| RequestError::BodyRead(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let total = bytes.len() + data.len();
        if total > limit {
            return Err(RequestError::BodyTooLarge { limit });
        }
        admission.reserve(total)?;
        bytes.push(data, declared);
    }
    let url = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    // One validating scan, no tree and no copy: the same scan notes where the parts the
    // listener reads lie, and they are built only when a trigger reads the body, after its
    // signature check. Without payload validation any body is taken (reference §2.2).
    let event = if listener.payload_validation {
        Event::from_body_reading(
            event_id,
            url,
            event_headers,
            bytes.into_bytes(),
            &listener.body_paths,
        )
        .map_err(|e| RequestError::InvalidBody(e.0))?
    } else {
        Event::from_unvalidated_body(event_id, url, event_headers, bytes.into_bytes())
    }
    .with_delivery_id(delivery_id);
    Ok((event, admission))
}

/// A body as its frames arrive. A body that arrives in one frame (hyper's, when the whole
/// request came in one read: the usual webhook) is kept as that frame, a view of hyper's read
/// buffer, with no copy; the request's headers keep that buffer alive for the event anyway.
/// Only a second frame makes a buffer of our own.
enum Collected {
    Empty,
    One(bytes::Bytes),
    Many(Vec<u8>),
}

impl Collected {
    fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::One(b) => b.len(),
            Self::Many(v) => v.len(),
        }
    }

    /// Appends `data`; `declared` (Content-Length) sizes the buffer when one is needed.
    fn push(&mut self, data: bytes::Bytes, declared: Option<u64>) {
        *self = match std::mem::replace(self, Self::Empty) {
            Self::Empty => Self::One(data),
            Self::One(first) => {
                let wanted = usize::try_from(declared.unwrap_or(0)).unwrap_or(0);
                let mut all = Vec::with_capacity(wanted.max(first.len() + data.len()));
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                Self::Many(all)
            }
            Self::Many(mut all) => {
                all.extend_from_slice(&data);
                Self::Many(all)
            }
        };
    }

    fn into_bytes(self) -> bytes::Bytes {
        match self {
            Self::Empty => bytes::Bytes::new(),
            Self::One(b) => b,
            Self::Many(v) => v.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Collected;
    use bytes::Bytes;

    #[test]
    fn a_body_of_one_frame_is_that_frame_without_a_copy() {
        let frame = Bytes::from(b"{\"action\":\"opened\"}".to_vec());
        let mut body = Collected::Empty;
        body.push(frame.clone(), Some(frame.len() as u64));
        assert_eq!(body.len(), frame.len());
        let kept = body.into_bytes();
        assert_eq!(kept, frame);
        assert_eq!(kept.as_ptr(), frame.as_ptr(), "copied");
    }

    #[test]
    fn frames_are_joined_in_order() {
        let mut body = Collected::Empty;
        for part in ["{\"a\":", "1,", "\"b\":2}"] {
            body.push(Bytes::from_static(part.as_bytes()), None);
        }
        assert_eq!(body.len(), 13);
        assert_eq!(body.into_bytes(), Bytes::from_static(b"{\"a\":1,\"b\":2}"));
        assert!(Collected::Empty.into_bytes().is_empty());
    }
}

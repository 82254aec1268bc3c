//! CloudEvents about each event, sent to the EventListener's `cloudEventURI` or
//! `--cloudevent-uri` (reference §8.5, upstream `pkg/sink/cloudevent/cloudevent.go`). A leaf
//! module: the sink hands it [`CloudEvent`]s, one task sends them.
//!
//! Upstream's four types, with upstream's attributes, in HTTP binary mode (`ce-*` headers, the
//! data as the body, `Content-Type: application/json`):
//!
//! | `ce-type` | when | data |
//! |---|---|---|
//! | `dev.tekton.event.triggers.started.v1` | a request arrived | its headers, `{"Name":["value",…]}` |
//! | `dev.tekton.event.triggers.successful.v1` | per trigger that created all its objects | the request's headers |
//! | `dev.tekton.event.triggers.failed.v1` | the request was refused before its triggers ran (headers), or timed out (`null`) | |
//! | `dev.tekton.event.triggers.done.v1` | the answer is ready | `null` |
//!
//! `ce-id` is the eventID (the same for every CloudEvent of one request, as upstream),
//! `ce-subject` `<EventListener> processing <eventID>`, `ce-time` when the step happened
//! (RFC 3339), `ce-specversion` `1.0`.
//!
//! Differences from upstream, on purpose:
//! - `ce-source` is `/apis/triggers.tekton.dev/v1beta1/namespaces/<ns>/EventListener/<name>` for
//!   every type. Upstream builds it from the object's type metadata, which its informer cache
//!   leaves empty, so its `started` says `/apis//v1beta1/…` and the others `/apis///…//<name>`.
//! - Here the answer waits for the triggers, so `successful` comes before `done`; upstream
//!   answers first and sends `successful` later.
//! - Upstream starts one goroutine per CloudEvent, with no bound and no order. Here a bounded
//!   queue ([`QUEUE_CAPACITY`]) feeds one task that sends in order; when the queue is full the
//!   CloudEvent is dropped and counted (`eventlistener_cloudevents_total{result="dropped"}`),
//!   so a slow or dead receiver never holds an event or grows memory.
//! - Retries as upstream's SDK: up to [`RETRIES`] more attempts after a connection error or a
//!   404, 413, 425, 429, 502, 503 or 504, waiting 10 ms doubling each time; each attempt also
//!   has a deadline ([`ATTEMPT_TIMEOUT`]), which upstream's has not.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::event::NoticeKind;
use crate::http_client::HttpClient;
use crate::metrics::{CloudEventResult, Metrics};

/// CloudEvents waiting to be sent, at most; more are dropped and counted.
pub const QUEUE_CAPACITY: usize = 1024;

/// Attempts after the first, as upstream's `ContextWithRetriesExponentialBackoff(…, 10ms, 10)`.
pub const RETRIES: u32 = 10;

/// The first wait between attempts; each next wait is twice the last.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// How long one attempt (connect, send, answer) may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a `cloudEventURI` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UriError {
    /// Not a URL.
    #[error("not an absolute URL: {0}")]
    Parse(String),
    /// A URL of another scheme.
    #[error("scheme {0:?} is not http or https")]
    Scheme(String),
}

/// Checks that `uri` is an absolute `http` or `https` URL and returns it, for
/// [`crate::event_listener::Listener::cloud_event_uri`] and `--cloudevent-uri`. An `https`
/// receiver must present a certificate the system's roots trust ([`crate::http_client`]).
///
/// # Errors
/// [`UriError`] naming what is wrong.
pub fn check_uri(uri: &str) -> Result<Arc<str>, UriError> {
    let url = reqwest::Url::parse(uri).map_err(|e| UriError::Parse(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => Ok(Arc::from(uri)),
        other => Err(UriError::Scheme(other.to_owned())),
    }
}

/// One CloudEvent to send.
#[derive(Debug, Clone)]
pub struct CloudEvent {
    /// Where to (`cloudEventURI`).
    pub target: Arc<str>,
    /// Which step; gives `ce-type`.
    pub kind: NoticeKind,
    /// `ce-id`: the eventID.
    pub id: String,
    /// `ce-source`.
    pub source: String,
    /// `ce-subject`.
    pub subject: String,
    /// `ce-time`, RFC 3339.
    pub time: String,
    /// The body: JSON, `null` when there is nothing to say.
    pub data: Bytes,
}

impl CloudEvent {
    /// The CloudEvent of step `kind` of event `event_id` on EventListener `namespace/name`,
    /// stamped now; `data` is JSON (`None`: `null`).
    pub fn new(
        target: Arc<str>,
        kind: NoticeKind,
        event_id: &str,
        namespace: &str,
        name: &str,
        data: Option<Bytes>,
    ) -> Self {
        Self {
            target,
            kind,
            id: event_id.to_owned(),
            source: format!(
                "/apis/triggers.tekton.dev/v1beta1/namespaces/{namespace}/EventListener/{name}"
            ),
            subject: format!("{name} processing {event_id}"),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            data: data.unwrap_or_else(|| Bytes::from_static(b"null")),
        }
    }
}

/// The sending side: cheap to clone, shared by every request.
#[derive(Debug, Clone)]
pub struct CloudEvents {
    queue: mpsc::Sender<CloudEvent>,
    uri_override: Option<Arc<str>>,
    metrics: Arc<Metrics>,
}

impl CloudEvents {
    /// Starts the task that sends, in order, what [`Self::send`] queues, holding at most
    /// `capacity` ([`QUEUE_CAPACITY`] in `serve`) waiting. `uri_override` (`--cloudevent-uri`)
    /// replaces every EventListener's `cloudEventURI`. Must run inside a Tokio runtime; the
    /// task ends when every clone is dropped. The HTTP client is built on the first CloudEvent,
    /// so a listener that sends none never loads it (idle memory, BENCHMARKS.md).
    pub fn start(uri_override: Option<Arc<str>>, capacity: usize, metrics: Arc<Metrics>) -> Self {
        let (queue, mut receiver) = mpsc::channel::<CloudEvent>(capacity.max(1));
        let sender_metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let mut client: Option<HttpClient> = None;
            while let Some(event) = receiver.recv().await {
                let result = match deliver(&mut client, &event).await {
                    Ok(()) => CloudEventResult::Sent,
                    Err(e) => {
                        tracing::warn!(
                            event_id = %event.id,
                            ce_type = event.kind.event_type(),
                            target = %event.target,
                            error = %e,
                            "cannot send the CloudEvent"
                        );
                        CloudEventResult::Failed
                    }
                };
                sender_metrics.cloud_event(result);
            }
        });
        Self {
            queue,
            uri_override,
            metrics,
        }
    }

    /// Where this EventListener's CloudEvents go: `--cloudevent-uri`, else its
    /// `cloudEventURI`; `None` sends nothing.
    pub fn target(&self, listener_uri: Option<&Arc<str>>) -> Option<Arc<str>> {
        self.uri_override.as_ref().or(listener_uri).cloned()
    }

    /// Queues `event` without waiting; a full queue drops it (counted, and logged at debug).
    pub fn send(&self, event: CloudEvent) {
        if let Err(e) = self.queue.try_send(event) {
            self.metrics.cloud_event(CloudEventResult::Dropped);
            tracing::debug!(error = %e, "CloudEvent dropped: the queue is full");
        }
    }
}

/// Why one CloudEvent was not delivered, after every attempt.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("{0}")]
    Request(#[from] crate::http_client::Error),
    #[error("the receiver answered {0}")]
    Status(hyper::StatusCode),
}

impl DeliveryError {
    /// Whether another attempt may succeed, as upstream's SDK decides.
    fn retriable(&self) -> bool {
        match self {
            Self::Request(e) => e.is_retryable(),
            Self::Status(status) => {
                matches!(status.as_u16(), 404 | 413 | 425 | 429 | 502 | 503 | 504)
            }
        }
    }
}

async fn deliver(client: &mut Option<HttpClient>, event: &CloudEvent) -> Result<(), DeliveryError> {
    let client = match client {
        Some(client) => client,
        None => client.insert(HttpClient::with_system_roots()?),
    };
    let mut wait = FIRST_BACKOFF;
    let mut retries = 0;
    loop {
        match attempt(client, event).await {
            Ok(()) => return Ok(()),
            Err(e) if retries < RETRIES && e.retriable() => {
                tracing::debug!(event_id = %event.id, error = %e, "CloudEvent not delivered; retrying");
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
                retries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One POST in binary mode, bounded by [`ATTEMPT_TIMEOUT`]; any 2xx is delivered.
async fn attempt(client: &HttpClient, event: &CloudEvent) -> Result<(), DeliveryError> {
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", event.id.as_str()),
        ("ce-type", event.kind.event_type()),
        ("ce-source", event.source.as_str()),
        ("ce-subject", event.subject.as_str()),
        ("ce-time", event.time.as_str()),
        ("content-type", "application/json"),
    ];
    let answer = client
        .post(&event.target, &headers, event.data.clone(), ATTEMPT_TIMEOUT)
        .await?;
    if answer.status.is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Status(answer.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_are_targets() {
        assert!(check_uri("http://sink.ns.svc:8080/events").is_ok());
        assert!(check_uri("https://broker.example/").is_ok());
        assert!(matches!(check_uri("sink:8080"), Err(UriError::Scheme(_))));
        assert!(matches!(check_uri("/relative"), Err(UriError::Parse(_))));
        assert!(matches!(
            check_uri("ftp://x/"),
            Err(UriError::Scheme(s)) if s == "ftp"
        ));
    }

    #[test]
    fn attributes_name_the_listener_and_the_event() {
        let e = CloudEvent::new(
            Arc::from("http://x/"),
            NoticeKind::Started,
            "abc",
            "ci",
            "github",
            None,
        );
        assert_eq!(
            e.source,
            "/apis/triggers.tekton.dev/v1beta1/namespaces/ci/EventListener/github"
        );
        assert_eq!(e.subject, "github processing abc");
        assert_eq!(&e.data[..], b"null");
        assert!(
            chrono::DateTime::parse_from_rfc3339(&e.time).is_ok(),
            "{}",
            e.time
        );
    }

    #[test]
    fn retries_follow_upstreams_sdk() {
        let status = |s: u16| DeliveryError::Status(hyper::StatusCode::from_u16(s).unwrap());
        for s in [404, 413, 425, 429, 502, 503, 504] {
            assert!(status(s).retriable(), "{s}");
        }
        for s in [400, 401, 403, 500, 501] {
            assert!(!status(s).retriable(), "{s}");
        }
    }

    #[test]
    fn the_override_wins_over_the_listeners_uri() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let own: Arc<str> = Arc::from("http://own/");
            let plain = CloudEvents::start(None, 1, Arc::default());
            assert_eq!(plain.target(Some(&own)).as_deref(), Some("http://own/"));
            assert_eq!(plain.target(None), None);
            let flagged = CloudEvents::start(Some(Arc::from("http://flag/")), 1, Arc::default());
            assert_eq!(flagged.target(Some(&own)).as_deref(), Some("http://flag/"));
            assert_eq!(flagged.target(None).as_deref(), Some("http://flag/"));
        });
    }
}

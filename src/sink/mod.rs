//! The HTTP side (upstream `pkg/sink`, reference §2): an axum router where `/live` and `/ready`
//! answer probes and every other path and method is the event handler. Only this module knows
//! axum and HTTP status codes; [`response`] is the one place outcomes become statuses.

mod drain;
mod handler;
mod in_flight;
pub mod limits;
pub mod response;
mod server;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use tokio::net::TcpListener;

use crate::event::{EventNotice, NoticeKind};
use crate::event_listener::ListenerHandle;
use crate::resources::Creator;

pub use drain::Drain;
pub use server::{
    DEFAULT_DRAIN_DELAY, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT,
    DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_WRITE_TIMEOUT, ServeOptions, default_threads, serve_with,
};

/// Largest accepted request body, in bytes: GitHub caps webhook payloads at 25 MB, so anything
/// larger is not a GitHub delivery. Upstream has no limit (reference §11 item 7).
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// How long one event may take, all triggers included, before the answer is 503: the value the
/// shipped upstream controller passes as `--timeouthandler` (30 s; the sink binary's own default
/// is 5 s, reference §2.8). GitHub itself gives up on a delivery after 10 s, but a slow creator
/// should still finish its work rather than be cut short.
pub const DEFAULT_EVENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Everything a request handler needs: cheap handles, cloned per request.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The EventListener being served (swapped whole on reload).
    pub listener: ListenerHandle,
    /// Where created objects go.
    pub creator: Arc<dyn Creator>,
    /// Largest accepted body, bytes.
    pub max_body_bytes: usize,
    /// Deadline for one event (all triggers); on expiry the triggers are cancelled and the
    /// answer is 503.
    pub event_timeout: std::time::Duration,
    /// `--response-detail`: answers list each trigger's outcome (`triggers`) to senders that
    /// passed a signature or token check.
    pub response_detail: bool,
    /// Where the sender's delivery ID is read from (`--idempotency`, `--delivery-id-header`).
    pub delivery_ids: crate::event::DeliveryIdPolicy,
    /// Budgets for events and body bytes in flight (shared by every request).
    pub limits: limits::InflightLimits,
    /// Shutdown state: the draining flag `/ready` reads and the count of events in flight
    /// the drain waits for. [`serve_with`] starts the drain; share a clone to observe it.
    pub drain: Drain,
    /// Where each event's progress is told (upstream's per-event Kubernetes Events, `EL_EVENT`),
    /// or `None`. Sent with `try_send`: a full channel drops the notice (logged at debug), so the
    /// event path never waits on it.
    pub notices: Option<tokio::sync::mpsc::Sender<EventNotice>>,
    /// Where each event's CloudEvents are queued (reference §8.5), or `None`: sent for
    /// EventListeners with a `cloudEventURI`, or to `--cloudevent-uri` for all.
    pub cloud_events: Option<crate::cloud_events::CloudEvents>,
    /// What `/metrics` exports ([`metrics_router`]); the event route records into it.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    /// Tells [`AppState::notices`] about one step of an event, without waiting: dropped (and
    /// logged at debug) when nobody listens or the channel is full.
    pub(crate) fn notify(&self, kind: NoticeKind, event_id: &str, message: Option<String>) {
        let Some(notices) = &self.notices else {
            return;
        };
        let notice = EventNotice {
            kind,
            event_id: event_id.to_owned(),
            message,
        };
        if let Err(e) = notices.try_send(notice) {
            tracing::debug!(error = %e, kind = kind.event_type(), "event notice dropped");
        }
    }
}

impl AppState {
    /// State with the defaults: [`DEFAULT_MAX_BODY_BYTES`], [`DEFAULT_EVENT_TIMEOUT`], response
    /// detail on, a fresh (not draining) [`Drain`], no notices and no CloudEvents. Override fields with struct update syntax.
    pub fn new(listener: ListenerHandle, creator: Arc<dyn Creator>) -> Self {
        Self {
            listener,
            creator,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            event_timeout: DEFAULT_EVENT_TIMEOUT,
            response_detail: true,
            delivery_ids: crate::event::DeliveryIdPolicy::default(),
            limits: limits::InflightLimits::default(),
            drain: Drain::default(),
            notices: None,
            cloud_events: None,
            metrics: Arc::default(),
        }
    }
}

/// The probes' paths; every other path is an event.
const LIVE: &str = "/live";
const READY: &str = "/ready";

/// The router: `/live`, `/ready`, and the event handler for everything else.
pub fn router(state: AppState) -> Router {
    router_of(Arc::new(state))
}

/// [`router`] on shared state.
fn router_of(state: Arc<AppState>) -> Router {
    Router::new()
        .route(LIVE, any(handler::live))
        .route(READY, any(handler::ready))
        .fallback(in_flight::event)
        // Behind an `Arc`: axum clones the state for every request, and a clone of the fields
        // (names, policies) cost allocations on every event.
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// The routes of [`router`] as the server calls them: `/live` and `/ready` through the router,
/// every other path straight to the event handler. The router's work per request (its boxed
/// service cloned and dropped, the extractors, tower-http's trace span) then costs the events
/// nothing; tower-http's `debug` lines are written for the probes only, an event's own lines
/// say the rest.
#[derive(Clone)]
pub(crate) struct Routes {
    router: hyper_util::service::TowerToHyperService<Router>,
    state: Arc<AppState>,
}

impl Routes {
    pub(crate) fn new(state: AppState) -> Self {
        let state = Arc::new(state);
        Self {
            router: hyper_util::service::TowerToHyperService::new(router_of(Arc::clone(&state))),
            state,
        }
    }

    /// Answers `request` as [`router`] would; an event's body must have arrived by
    /// `body_deadline` (408 otherwise).
    pub(crate) async fn call(
        &self,
        request: axum::http::Request<hyper::body::Incoming>,
        body_deadline: Option<tokio::time::Instant>,
    ) -> axum::response::Response {
        use hyper::service::Service as _;
        match request.uri().path() {
            LIVE | READY => match self.router.call(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            },
            _ => in_flight::event_with(Arc::clone(&self.state), request, body_deadline).await,
        }
    }
}

/// The metrics router, served on its own address (`--metrics-address`, upstream's port 9000):
/// `GET /metrics`, the OpenMetrics text of [`AppState::metrics`] with the configuration's gauges
/// read from [`AppState::listener`] at that moment.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(handler::metrics))
        .with_state(Arc::new(state))
}

/// [`serve_with`] with the default [`ServeOptions`] (upstream's timeouts, 10,000 connections,
/// 5 s drain delay, 25 s shutdown timeout).
///
/// # Errors
/// As [`serve_with`].
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ServeOptions::default(), shutdown).await
}

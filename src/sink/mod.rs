//! The HTTP side (upstream `pkg/sink`, reference §2): an axum router where `/live` and `/ready`
//! answer probes and every other path and method is the event handler. Only this module knows
//! axum and HTTP status codes; [`response`] is the one place outcomes become statuses.

mod handler;
pub mod limits;
pub mod response;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::any;
use tokio::net::TcpListener;

use crate::listener::ListenerHandle;
use crate::resources::Creator;

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
}

impl AppState {
    /// State with the defaults: [`DEFAULT_MAX_BODY_BYTES`], [`DEFAULT_EVENT_TIMEOUT`], response
    /// detail on. Override fields with struct update syntax.
    pub fn new(listener: ListenerHandle, creator: Arc<dyn Creator>) -> Self {
        Self {
            listener,
            creator,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            event_timeout: DEFAULT_EVENT_TIMEOUT,
            response_detail: true,
            delivery_ids: crate::event::DeliveryIdPolicy::default(),
            limits: limits::InflightLimits::default(),
        }
    }
}

/// The router: `/live`, `/ready`, and the event handler for everything else.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/live", any(handler::live))
        .route("/ready", any(handler::ready))
        .fallback(handler::handle_event)
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// How connections are served (`serve` flags; reference §2.8 for upstream's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// `--readtimeout`: a request head must arrive within this, or the connection is closed
    /// (upstream's ReadHeaderTimeout; shipped 5 s). The body is bounded by the event deadline.
    pub read_timeout: Duration,
    /// `--max-connections`: connections open at once; past it, new ones wait in the kernel's
    /// accept queue until one closes.
    pub max_connections: usize,
    /// `--shutdown-timeout`: after the shutdown signal, how long in-flight requests may take
    /// before the server returns anyway (logging how many were cut).
    pub shutdown_timeout: Duration,
}

impl Default for ConnectionOptions {
    /// 5 s read timeout (upstream's shipped value), 10,000 connections, 25 s to shut down.
    fn default() -> Self {
        Self {
            read_timeout: Duration::from_secs(5),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(25),
        }
    }
}

/// [`serve_with`] and the default [`ConnectionOptions`].
///
/// # Errors
/// As [`serve_with`].
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ConnectionOptions::default(), shutdown).await
}

/// Serves on an already bound listener until `shutdown` completes; then stops accepting, closes
/// idle connections and those still sending a request head, lets in-flight requests finish,
/// and returns — after [`ConnectionOptions::shutdown_timeout`] at the latest, so a stalled
/// client can never keep the process alive.
///
/// # Errors
/// None today: accept errors (e.g. too many open files) are logged and retried after a pause.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    options: ConnectionOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let app = router(state);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.read_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(
        options
            .max_connections
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
    ));
    let mut shutdown = std::pin::pin!(shutdown);
    // Every connection's task, so that whatever outlives the shutdown timeout is cut.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = loop {
            tokio::select! {
                accepted = listener.accept() => break Some(accepted),
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                () = &mut shutdown => break None,
            }
        };
        let Some(accepted) = accepted else { break };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let open = options
        .max_connections
        .clamp(1, tokio::sync::Semaphore::MAX_PERMITS)
        - slots.available_permits();
    tracing::info!(
        connections = open,
        "stopped accepting; draining connections"
    );
    if tokio::time::timeout(options.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        let open = options
            .max_connections
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS)
            - slots.available_permits();
        tracing::warn!(
            connections = open,
            timeout_secs = options.shutdown_timeout.as_secs(),
            "shutdown timeout: cutting the connections still open"
        );
        connections.abort_all();
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

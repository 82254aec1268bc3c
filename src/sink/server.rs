//! The server loop: accept connections up to a cap, drive each with hyper's HTTP/1 connection
//! and a per-connection watchdog that enforces upstream's read, idle and write timeouts
//! (reference §2.8: Go's `ReadHeaderTimeout`/`ReadTimeout`, `IdleTimeout`, `WriteTimeout` in
//! `pkg/sink/initialization.go`), and drain on shutdown.
//!
//! Why a watchdog of our own rather than hyper's `header_read_timeout`: hyper starts that timer
//! whenever it waits for a request head, including while a keep-alive connection sits idle
//! between requests, so it would close idle connections after the read timeout (5 s) rather
//! than the idle timeout (120 s). The watchdog knows each connection's phase:
//!
//! | phase | from | deadline |
//! |---|---|---|
//! | head | accept, or the first byte after an idle wait | `+ read_timeout` |
//! | busy | head parsed, handler running | none here: the body read is bounded by `read_timeout` from the head's start (`in_flight.rs`), the handler by the event deadline |
//! | writing | response ready | `+ write_timeout`, until hyper has flushed its last byte |
//! | idle | response flushed (keep-alive) | `+ idle_timeout` |
//!
//! NB: bytes of a pipelined next request that arrive while a request is in progress do not
//! restart the head deadline; such a connection is bounded by the idle timeout instead.
//!
//! Past a deadline the connection is dropped (the socket closed). At the connection cap the
//! loop stops calling `accept`: further clients wait in the kernel's accept queue (and the
//! kernel refuses them when that is full) instead of being accepted and closed, so a burst
//! is served late rather than failed, and the process never holds more than the cap of sockets.
//!
//! Connections are served by [`ServeOptions::threads`] threads, each with a single-threaded
//! runtime of its own and its own handle of the listening socket: a connection, its requests and
//! its events stay on the thread that accepted it, so no event wakes a second thread (upstream's
//! Go server lets its scheduler move goroutines between threads). A thread's connections stay
//! with it: a few long keep-alive connections may load one thread more than another.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use super::AppState;

/// Time to receive a request head, counted from accept or from the first byte after an idle
/// wait, and the whole request (head and body) from the same start, in seconds: upstream
/// `--readtimeout` (5, binary default and shipped value).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time to write a response once it is ready: upstream `--writetimeout` (40).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(40);
/// How long a keep-alive connection may wait for its next request: the value the shipped
/// upstream controller passes as `--idletimeout` (120; the binary's own default is 30).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Open connections at most. Upstream has no cap; 10,000 keeps a pod well under common file
/// descriptor limits (ulimit 65,536) while far above what one listener sees from GitHub.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10_000;
/// After SIGTERM, how long events are still accepted (with `/ready` at 503) so the endpoints
/// controller and load balancers stop routing here before the listener stops accepting.
/// Kubernetes removes endpoints concurrently with SIGTERM; a few seconds cover the usual lag.
pub const DEFAULT_DRAIN_DELAY: Duration = Duration::from_secs(5);
/// After the drain delay, how long in-flight events and connections may take before the
/// process exits anyway: 25 s, so drain delay + this + a margin fits the chart's
/// `terminationGracePeriodSeconds` and an event that started just before SIGTERM (deadline
/// `--timeout-handler`, 30 s) has had 30 s in total.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(25);

/// Connection limits and the shutdown sequence of [`serve_with`]. `Default` gives the
/// `DEFAULT_*` constants of this module.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Request head (from accept or from its first byte) and whole request (head and body)
    /// deadline; upstream `--readtimeout`.
    pub read_timeout: Duration,
    /// Deadline to write a response once it is ready; upstream `--writetimeout`.
    pub write_timeout: Duration,
    /// Keep-alive connections waiting longer than this for their next request are closed;
    /// upstream `--idletimeout`.
    pub idle_timeout: Duration,
    /// Open connections at most (at least 1; 0 counts as 1). Beyond it, clients wait in the
    /// accept queue.
    pub max_connections: u32,
    /// Events still accepted for this long after shutdown begins.
    pub drain_delay: Duration,
    /// After the drain delay, the longest wait for connections and events to finish.
    pub shutdown_timeout: Duration,
    /// HTTPS (`--tls-cert`, `--tls-key`); `None`: plain HTTP. The handshake counts against
    /// `read_timeout` like the request head.
    pub tls: Option<super::tls::Tls>,
    /// Threads serving connections, each with a single-threaded runtime of its own (0 counts
    /// as 1); default: the CPUs this process may use ([`default_threads`]).
    pub threads: usize,
}

/// The CPUs this process may use (`std::thread::available_parallelism`, which reads the
/// cgroup's CPU quota, so a pod limited to 1 CPU gets 1); 1 when that cannot be known.
#[must_use]
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            read_timeout: DEFAULT_READ_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            drain_delay: DEFAULT_DRAIN_DELAY,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            tls: None,
            threads: default_threads(),
        }
    }
}

/// Serves `state` on an already bound listener with `options` until `shutdown` completes, then
/// drains:
///
/// 1. logs the start with the number of events in flight; `/ready` answers 503 from now on;
/// 2. keeps accepting connections and events for `drain_delay`;
/// 3. stops accepting; closes idle connections and those whose request head has not arrived;
///    connections with a request in progress finish it and close;
/// 4. waits for every connection and every event in flight (also those whose sender hung
///    up), at most `shutdown_timeout`; past it, logs what was cut and returns anyway.
///
/// # Errors
/// None today: accept errors (e.g. out of file descriptors) are logged and retried. The
/// `io::Result` is kept for callers that treat serving as fallible.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let drain = state.drain.clone();
    let metrics = Arc::clone(&state.metrics);
    let app = super::Routes::new(state);
    let max = options.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max as usize));
    let (stop, stopped) = watch::channel(false);
    let workers = Workers::start(listener, &app, &options, &metrics, &permits, &stopped)?;
    shutdown.await;
    drain.start();
    tracing::info!(
        events_in_flight = drain.events_in_flight(),
        drain_delay_seconds = options.drain_delay.as_secs_f64(),
        "shutting down: /ready answers 503; events still accepted during the drain delay"
    );
    tokio::time::sleep(options.drain_delay).await;
    let Workers {
        accepting,
        closed,
        exit,
        exited,
    } = workers;
    accepting.send_replace(false);
    stop.send_replace(true);
    let open = |permits: &Semaphore| max as usize - permits.available_permits();
    tracing::info!(
        connections = open(&permits),
        events_in_flight = drain.events_in_flight(),
        "stopped accepting; closing idle connections, finishing requests in progress"
    );
    let finished = async {
        for listener in closed {
            // An error: that thread is gone, and its socket with it.
            let _ = listener.await;
        }
        // Every connection task holds a permit until its socket is closed.
        let _all = permits.acquire_many(max).await;
        drain.events_finished().await;
    };
    if tokio::time::timeout(options.shutdown_timeout, finished)
        .await
        .is_err()
    {
        tracing::warn!(
            connections = open(&permits),
            events_in_flight = drain.events_in_flight(),
            shutdown_timeout_seconds = options.shutdown_timeout.as_secs_f64(),
            "shutdown timeout: exiting with these connections and events cut"
        );
    } else {
        tracing::info!("drained: every connection closed and every event finished");
    }
    exit.send_replace(true);
    for thread in exited {
        let _ = thread.await;
    }
    Ok(())
}

/// The threads that serve connections ([`ServeOptions::threads`]), each running a
/// single-threaded runtime of its own and accepting on its own handle of the listening socket
/// (one accept queue, so an idle thread takes the next connection). A connection, its requests
/// and its events stay on the thread that accepted it: a task that wakes itself (as hyper's
/// request body does when the handler reads it) is run again on the same thread instead of
/// waking another, which at 1,000 events/s made every event cost two thread wake-ups
/// (BENCHMARKS.md, "Stop 24").
///
/// Dropping it (or its channels) makes every thread stop accepting and exit, cutting what
/// runs there.
struct Workers {
    /// `false`: stop accepting and close the socket.
    accepting: watch::Sender<bool>,
    /// One per thread: answered once its socket is closed.
    closed: Vec<tokio::sync::oneshot::Receiver<()>>,
    /// `true`: leave, dropping every task still running on the thread.
    exit: watch::Sender<bool>,
    /// One per thread: answered as it leaves.
    exited: Vec<tokio::sync::oneshot::Receiver<()>>,
}

impl Workers {
    /// Starts [`ServeOptions::threads`] threads (at least 1) accepting on `listener`.
    ///
    /// # Errors
    /// A runtime, socket handle or thread that cannot be created; threads already started
    /// then exit.
    fn start(
        listener: TcpListener,
        app: &super::Routes,
        options: &ServeOptions,
        metrics: &Arc<crate::metrics::Metrics>,
        permits: &Arc<Semaphore>,
        stopped: &watch::Receiver<bool>,
    ) -> std::io::Result<Self> {
        let listener = listener.into_std()?;
        let threads = options.threads.max(1);
        let (accepting, accepting_rx) = watch::channel(true);
        let (exit, exit_rx) = watch::channel(false);
        let mut workers = Self {
            accepting,
            closed: Vec::with_capacity(threads),
            exit,
            exited: Vec::with_capacity(threads),
        };
        for index in 0..threads {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let socket = {
                let _entered = runtime.enter();
                TcpListener::from_std(listener.try_clone()?)?
            };
            let (closed, closed_rx) = tokio::sync::oneshot::channel();
            let (exited, exited_rx) = tokio::sync::oneshot::channel();
            let mut accepting = accepting_rx.clone();
            let mut exit = exit_rx.clone();
            let app = app.clone();
            let options = options.clone();
            let metrics = Arc::clone(metrics);
            let permits = Arc::clone(permits);
            let stopped = stopped.clone();
            std::thread::Builder::new()
                .name(format!("sink-{index}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        tokio::select! {
                            never = accept_loop(&socket, app, &options, &metrics, &permits, &stopped) => match never {},
                            // Told to stop, or the server is gone.
                            _ = accepting.wait_for(|accepting| !*accepting) => {}
                        }
                        drop(socket);
                        let _ = closed.send(());
                        let _ = exit.wait_for(|exit| *exit).await;
                    });
                    // Whatever still runs here was cut by the shutdown timeout.
                    runtime.shutdown_background();
                    let _ = exited.send(());
                })?;
            workers.closed.push(closed_rx);
            workers.exited.push(exited_rx);
        }
        Ok(workers)
    }
}

/// Accepts while a connection permit is free; each connection runs in its own task.
async fn accept_loop(
    listener: &TcpListener,
    app: super::Routes,
    options: &ServeOptions,
    metrics: &Arc<crate::metrics::Metrics>,
    permits: &Arc<Semaphore>,
    stopped: &watch::Receiver<bool>,
) -> Infallible {
    loop {
        // NB: the permit is taken before `accept`: at the cap, clients queue in the kernel.
        let Ok(permit) = Arc::clone(permits).acquire_owned().await else {
            // The semaphore is never closed; wait forever rather than spin.
            return std::future::pending().await;
        };
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning; connections closing
                // free descriptors.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        tokio::spawn(connection(
            stream,
            app.clone(),
            options.clone(),
            Arc::clone(metrics),
            stopped.clone(),
            permit,
        ));
    }
}

/// Drives one connection until it closes, a deadline passes, or the drain closes it; with TLS,
/// after a handshake that must end within `read_timeout`.
async fn connection(
    stream: TcpStream,
    app: super::Routes,
    options: ServeOptions,
    metrics: Arc<crate::metrics::Metrics>,
    stopped: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let watch = Arc::new(Watch::new(Instant::now()));
    let watched = Watched {
        io: stream,
        watch: Arc::clone(&watch),
    };
    let Some(tls) = options.tls.clone() else {
        return drive(TokioIo::new(watched), watch, app, options, metrics, stopped).await;
    };
    match tokio::time::timeout(options.read_timeout, tls.acceptor.accept(watched)).await {
        Ok(Ok(stream)) => drive(TokioIo::new(stream), watch, app, options, metrics, stopped).await,
        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
        Err(_) => tracing::info!("TLS handshake not done within --readtimeout; closing"),
    }
}

/// Serves HTTP/1 on `io` under the connection's watchdog.
async fn drive<I>(
    io: TokioIo<I>,
    watch: Arc<Watch>,
    app: super::Routes,
    options: ServeOptions,
    metrics: Arc<crate::metrics::Metrics>,
    mut stopped: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let read_timeout = options.read_timeout;
    let service = {
        let watch = Arc::clone(&watch);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let watch = Arc::clone(&watch);
            let app = app.clone();
            // Boxed so that the connection is `Unpin`, as `poll_without_shutdown` needs.
            Box::pin(async move {
                let started = watch.request_started();
                // The body must have arrived `--readtimeout` after the head began. NB: an absurd
                // --readtimeout overflows `Instant`; then there is no deadline.
                let body_deadline = started.checked_add(read_timeout);
                let response = app.call(request, body_deadline).await;
                watch.response_ready();
                Ok::<_, Infallible>(response.map(|body| Tracked { body, watch }))
            })
        })
    };
    let mut conn = hyper::server::conn::http1::Builder::new()
        // The watchdog does this (see the module doc); hyper's timer would also need a Timer.
        .header_read_timeout(None)
        .serve_connection(io, service);
    // One timer per connection, re-armed only when it fires: phase changes wake nobody (waking
    // the watchdog on every phase change, four times a request, cost 13–33 % more server CPU
    // per event at 1,000 events/s; BENCHMARKS.md).
    // When it fires, the watchdog closes the connection if its phase's deadline has passed, else
    // re-arms for that deadline, and at the latest one `--readtimeout` later: every deadline is
    // at least that far from its phase's start, so none is missed or met late (a head begun
    // during an idle wait is seen at the next check, before its deadline).
    let next_check = |options: &ServeOptions| {
        let now = Instant::now();
        let check = now
            .checked_add(options.read_timeout)
            .unwrap_or_else(far_future);
        match watch.deadline(options) {
            Some((at, _)) => at.min(check),
            None => check,
        }
    };
    let sleep = tokio::time::sleep_until(next_check(&options));
    tokio::pin!(sleep);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => {
                match result {
                    Ok(()) => linger(conn.into_parts().io.into_inner()).await,
                    Err(e) => {
                        // hyper answered 431 itself: the head is over its buffer (about 400 KiB).
                        if e.is_parse_too_large() {
                            metrics.rejected(crate::metrics::Rejection::HeadersTooLarge);
                        }
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                return;
            }
            () = sleep.as_mut() => {
                if let Some((at, reason)) = watch.deadline(&options)
                    && at <= Instant::now()
                {
                    // Idle keep-alive connections expire all the time; stalls are news.
                    if reason == IDLE {
                        tracing::debug!(reason, "closing connection");
                    } else {
                        tracing::info!(reason, "closing connection");
                    }
                    return;
                }
                sleep.as_mut().reset(next_check(&options));
            }
            _ = stopped.changed(), if !stopping => {
                stopping = true;
                if watch.waiting_for_request() {
                    tracing::debug!("shutdown: closing a connection with no request in progress");
                    return;
                }
                Pin::new(&mut conn).graceful_shutdown();
            }
        }
    }
}

/// How long a connection that hyper has finished is kept reading (and discarding) before it
/// closes: Go's `rstAvoidanceDelay` (`net/http/server.go`), 500 ms.
const LINGER: Duration = Duration::from_millis(500);

/// Closes a connection hyper has finished the way Go's server does (`closeWriteAndWait`): the
/// write side first, so the client gets the whole answer and then end-of-file; then whatever the
/// client still sends is read and dropped until it closes too, at most [`LINGER`]. Closing at
/// once with unread bytes makes the kernel reset the connection, and a client still sending a
/// body it was refused (413 from its `Content-Length`, 429, 503) would then see that reset
/// instead of its answer.
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(mut io: I) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let _ = tokio::time::timeout(LINGER, async {
        if io.shutdown().await.is_err() {
            return;
        }
        let mut discard = [0u8; 8192];
        while matches!(io.read(&mut discard).await, Ok(n) if n > 0) {}
    })
    .await;
}

const IDLE: &str = "keep-alive connection idle longer than --idletimeout";

/// A year from now: "no deadline" for timeouts too large for `Instant`.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}

/// Where a connection is in its request cycle (see the module doc).
#[derive(Debug, Clone, Copy)]
enum Phase {
    Head(Instant),
    Busy,
    Writing(Instant),
    /// The response body is done; hyper may still hold bytes to flush.
    Flushing(Instant),
    Idle(Instant),
}

/// One connection's phase, shared by its socket wrapper, its service and its watchdog (which
/// reads it when its timer fires).
#[derive(Debug)]
struct Watch {
    phase: Mutex<Phase>,
}

impl Watch {
    fn new(accepted: Instant) -> Self {
        Self {
            phase: Mutex::new(Phase::Head(accepted)),
        }
    }

    /// Applies `f` to the phase.
    fn update(&self, f: impl FnOnce(Phase) -> Option<Phase>) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(next) = f(*phase) {
            *phase = next;
        }
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: after an idle wait, a new request head has begun.
    fn bytes_read(&self) {
        self.update(|p| match p {
            Phase::Idle(_) => Some(Phase::Head(Instant::now())),
            _ => None,
        });
    }

    /// hyper parsed a request head; returns when that head began.
    fn request_started(&self) -> Instant {
        let mut started = Instant::now();
        self.update(|p| {
            if let Phase::Head(at) = p {
                started = at;
            }
            Some(Phase::Busy)
        });
        started
    }

    fn response_ready(&self) {
        self.update(|_| Some(Phase::Writing(Instant::now())));
    }

    fn body_done(&self) {
        self.update(|p| match p {
            Phase::Writing(at) => Some(Phase::Flushing(at)),
            _ => None,
        });
    }

    /// hyper flushed everything it had buffered.
    fn flushed(&self) {
        self.update(|p| match p {
            Phase::Flushing(_) => Some(Phase::Idle(Instant::now())),
            _ => None,
        });
    }

    /// No request is being handled or answered: closing loses nothing the client has not
    /// been told (a partly received head was never processed; the client may retry).
    fn waiting_for_request(&self) -> bool {
        matches!(self.phase(), Phase::Head(_) | Phase::Idle(_))
    }

    /// When this connection must be closed in its current phase, and why.
    /// `None` while busy, and for timeouts so large they overflow `Instant` (never).
    fn deadline(&self, options: &ServeOptions) -> Option<(Instant, &'static str)> {
        let (at, timeout, reason) = match self.phase() {
            Phase::Head(at) => (
                at,
                options.read_timeout,
                "request head not received within --readtimeout",
            ),
            Phase::Busy => return None,
            Phase::Writing(at) | Phase::Flushing(at) => (
                at,
                options.write_timeout,
                "response not written within --writetimeout",
            ),
            Phase::Idle(at) => (at, options.idle_timeout, IDLE),
        };
        Some((at.checked_add(timeout)?, reason))
    }
}

/// The socket, reporting reads and flushes to the connection's [`Watch`].
struct Watched {
    io: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.watch.bytes_read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_flush(cx);
        // NB: hyper calls this only once its own buffer is written out.
        if matches!(result, Poll::Ready(Ok(()))) {
            this.watch.flushed();
        }
        result
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A response body that tells the connection's [`Watch`] when hyper is done with it (hyper
/// drops the body after queueing its last frame, before flushing).
struct Tracked {
    body: Body,
    watch: Arc<Watch>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.watch.body_done();
    }
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ServeOptions {
        ServeOptions {
            read_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(3),
            ..ServeOptions::default()
        }
    }

    fn after(watch: &Watch, start: Instant) -> Option<Duration> {
        watch.deadline(&options()).map(|(at, _)| at - start)
    }

    #[test]
    fn each_phase_has_its_deadline() {
        let accepted = Instant::now();
        let watch = Watch::new(accepted);
        assert_eq!(after(&watch, accepted), Some(Duration::from_secs(1)));
        assert!(watch.waiting_for_request());
        // The body deadline counts from the head's start, not from its end.
        assert_eq!(watch.request_started(), accepted);
        assert_eq!(watch.deadline(&options()), None);
        assert!(!watch.waiting_for_request());
        watch.response_ready();
        let Phase::Writing(ready) = watch.phase() else {
            panic!("not writing: {:?}", watch.phase());
        };
        assert_eq!(after(&watch, ready), Some(Duration::from_secs(2)));
        // A flush before the body is done does not end the response.
        watch.flushed();
        assert!(matches!(watch.phase(), Phase::Writing(_)));
        watch.body_done();
        assert_eq!(after(&watch, ready), Some(Duration::from_secs(2)));
        watch.flushed();
        let Phase::Idle(idle) = watch.phase() else {
            panic!("not idle: {:?}", watch.phase());
        };
        assert_eq!(after(&watch, idle), Some(Duration::from_secs(3)));
        assert!(watch.waiting_for_request());
        watch.bytes_read();
        let Phase::Head(head) = watch.phase() else {
            panic!("no new head: {:?}", watch.phase());
        };
        assert_eq!(after(&watch, head), Some(Duration::from_secs(1)));
    }

    #[test]
    fn absurd_timeouts_mean_no_deadline_rather_than_a_panic() {
        let watch = Watch::new(Instant::now());
        let options = ServeOptions {
            read_timeout: Duration::from_secs(u64::MAX),
            ..ServeOptions::default()
        };
        assert_eq!(watch.deadline(&options), None);
    }
}

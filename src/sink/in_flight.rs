//! The wrapper around the event handler: counts the event in flight for the drain, runs it on
//! the connection's task and, if the connection goes away first, finishes it in a task of its own
//! (so a sender hanging up does not cut it, and the drain still sees it), and bounds the body
//! read by `--readtimeout` from the start of the request, as Go's `ReadTimeout` does upstream
//! (reference §2.8). A body not received in time answers 408.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

use super::AppState;
use super::handler;
use super::response::{self, RequestError};
use crate::event::new_event_id;
use crate::event_listener::{Listener, ListenerHandle};

/// Every path but `/live` and `/ready`: one event.
pub(super) async fn event(State(state): State<Arc<AppState>>, request: Request) -> Response {
    event_with(state, request, None).await
}

/// [`event`] for a request with any body, whose body must have arrived by `body_deadline`
/// (`--readtimeout` after its head began; the sink's server loop knows when): the sink passes
/// hyper's own body, so that it is boxed once (as the handler's `Body`, with the watch around
/// it), not twice.
pub(super) async fn event_with<B>(
    state: Arc<AppState>,
    request: axum::http::Request<B>,
    body_deadline: Option<Instant>,
) -> Response
where
    B: http_body::Body<Data = axum::body::Bytes> + Unpin + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let guard = state.drain.event();
    let (parts, body) = request.into_parts();
    let received = Arc::new(AtomicBool::new(false));
    let body = Body::new(Watched {
        body,
        received: Arc::clone(&received),
    });
    let on_panic = Arc::clone(&state);
    let on_late = Arc::clone(&state);
    let task = Detach::new(async move {
        let _guard = guard;
        let handle = handler::handle_event(State(state), parts.uri, parts.headers, body);
        let Some(at) = body_deadline else {
            return handle.await;
        };
        let late = async {
            tokio::time::sleep_until(at).await;
            if received.load(Ordering::SeqCst) {
                // Body in: the event deadline bounds the rest.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            response = handle => response,
            // NB: dropping the handler here is safe: no trigger runs before the whole body
            // is read.
            () = late => {
                let error = RequestError::BodyTimeout;
                let event_id = new_event_id();
                tracing::info!(event_id = %event_id, error = %error, "event rejected: body not received within --readtimeout");
                response::request_error(&current(&on_late.listener), &event_id, &error)
            }
        }
    });
    match task.await {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("a panic without a message");
            tracing::error!(error = message, "event task failed");
            response::request_error(
                &current(&on_panic.listener),
                &new_event_id(),
                &RequestError::Internal,
            )
        }
    }
}

/// The listener to name in an answer: the one served, or its name before the first load.
fn current(handle: &ListenerHandle) -> Arc<Listener> {
    handle
        .current()
        .unwrap_or_else(|| Arc::new(handle.placeholder()))
}

/// An event's work, polled where it is awaited (the connection's task: no hand-over between
/// worker threads, which cost a wake-up or two per event when each event was a task of its own)
/// and, when dropped unfinished because the connection went away, handed whole to a task of its
/// own to finish: the work is boxed, so it does not move, and a sender hanging up never cuts a
/// trigger half-way (its answer is then dropped). A panic in the work is caught and returned,
/// as a task's `JoinError` would carry it.
struct Detach<F: Future<Output = Response> + Send + 'static> {
    work: Option<Pin<Box<F>>>,
}

impl<F: Future<Output = Response> + Send + 'static> Detach<F> {
    fn new(work: F) -> Self {
        Self {
            work: Some(Box::pin(work)),
        }
    }
}

impl<F: Future<Output = Response> + Send + 'static> Future for Detach<F> {
    type Output = std::thread::Result<Response>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Detach` is `Unpin`: the work is pinned in its box.
        let this = self.get_mut();
        let Some(work) = this.work.as_mut() else {
            return Poll::Pending;
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(response)) => {
                this.work = None;
                Poll::Ready(Ok(response))
            }
            Err(panic) => {
                // Never to be polled again, nor finished on drop.
                this.work = None;
                Poll::Ready(Err(panic))
            }
        }
    }
}

impl<F: Future<Output = Response> + Send + 'static> Drop for Detach<F> {
    fn drop(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    drop(work.await);
                });
            }
            Err(_) => tracing::warn!("an event's work was dropped outside the runtime"),
        }
    }
}

/// The request body, noting when it has been received whole (or failed).
struct Watched<B> {
    body: B,
    received: Arc<AtomicBool>,
}

impl<B> http_body::Body for Watched<B>
where
    B: http_body::Body<Data = axum::body::Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None | Some(Err(_)))) {
            this.received.store(true, Ordering::SeqCst);
        }
        frame.map(|frame| frame.map(|frame| frame.map_err(axum::Error::new)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

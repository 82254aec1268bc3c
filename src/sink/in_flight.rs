//! The wrapper around the event handler: counts the event in flight for the drain, runs it in
//! its own task (so a sender hanging up does not cut it, and the drain still sees it), and
//! bounds the body read by `--readtimeout` from the start of the request, as Go's
//! `ReadTimeout` does upstream (reference §2.8). A body not received in time answers 408.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

use super::AppState;
use super::handler;
use super::response::{self, RequestError};
use super::server::BodyDeadline;
use crate::event::new_event_id;
use crate::event_listener::{Listener, ListenerHandle};

/// Every path but `/live` and `/ready`: one event.
pub(super) async fn event(State(state): State<AppState>, request: Request) -> Response {
    let guard = state.drain.event();
    let (parts, body) = request.into_parts();
    let deadline = parts.extensions.get::<BodyDeadline>().copied();
    let received = Arc::new(AtomicBool::new(false));
    let body = Body::new(Watched {
        body,
        received: Arc::clone(&received),
    });
    let listener = state.listener.clone();
    let on_panic = state.listener.clone();
    let task = tokio::spawn(async move {
        let _guard = guard;
        let handle = handler::handle_event(State(state), parts.uri, parts.headers, body);
        let Some(BodyDeadline(at)) = deadline else {
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
                response::request_error(&current(&listener), &event_id, &error)
            }
        }
    });
    match task.await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "event task failed");
            response::request_error(
                &current(&on_panic),
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

/// The request body, noting when it has been received whole (or failed).
struct Watched {
    body: Body,
    received: Arc<AtomicBool>,
}

impl http_body::Body for Watched {
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
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

//! What the sender is told when creating objects fails or takes too long.

use std::sync::Arc;
use std::time::Duration;

use eventlistener::resources::{BoxFuture, Created, Creator, Error, Resource};

use crate::support::{DEV_SECRET, TIMEOUT, deliver, fixture, repo_path, start_with};

/// A creator that fails every call the way it is told to, or never answers.
#[derive(Debug)]
enum Broken {
    Io,
    AlreadyExists,
    Hangs,
}

impl Creator for Broken {
    fn create(&self, resource: Resource) -> BoxFuture<'_, Result<Created, Error>> {
        Box::pin(async move {
            match self {
                Broken::Io => Err(Error::Io {
                    path: "/nowhere".into(),
                    source: std::io::Error::other("disk full"),
                }),
                Broken::AlreadyExists => Err(Error::AlreadyExists {
                    kind: resource.kind().to_owned(),
                    namespace: resource.namespace().to_owned(),
                    name: "x".into(),
                }),
                Broken::Hangs => {
                    tokio::time::sleep(TIMEOUT * 10).await;
                    unreachable!("the event deadline cancels this first")
                }
            }
        })
    }
}

async fn status_with(creator: Broken, event_timeout: Duration) -> (u16, serde_json::Value) {
    let listener = start_with(
        &[repo_path("config")],
        Some(Arc::new(creator)),
        event_timeout,
    )
    .await;
    let reply = deliver(
        &listener.url,
        "pull_request",
        &fixture("pull_request.opened"),
        Some(DEV_SECRET),
    )
    .await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn retryable_creation_failure_is_503_without_internals() {
    let (status, body) = status_with(Broken::Io, TIMEOUT).await;
    assert_eq!(status, 503, "{body}");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(
        !message.contains("disk full") && !message.contains("nowhere"),
        "{message}"
    );
    assert!(body["eventID"].is_string());
}

#[tokio::test]
async fn permanent_creation_failure_is_500() {
    let (status, body) = status_with(Broken::AlreadyExists, TIMEOUT).await;
    assert_eq!(status, 500, "{body}");
}

#[tokio::test]
async fn event_past_its_deadline_is_503_timeout() {
    let (status, body) = status_with(Broken::Hangs, Duration::from_millis(300)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errorMessage"], "EventListener Timeout!");
}

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

/// A creator that takes its time, then counts what it created.
#[derive(Debug)]
struct Slow {
    delay: Duration,
    created: Arc<std::sync::atomic::AtomicUsize>,
}

impl Creator for Slow {
    fn create(&self, resource: Resource) -> BoxFuture<'_, Result<Created, Error>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.created
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Created {
                api_version: resource.api_version().to_owned(),
                kind: resource.kind().to_owned(),
                namespace: resource.namespace().to_owned(),
                name: "slow".into(),
                duplicate: false,
            })
        })
    }
}

#[tokio::test]
async fn triggers_finish_even_when_the_sender_hangs_up() {
    let created = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let creator = Slow {
        delay: Duration::from_millis(600),
        created: Arc::clone(&created),
    };
    let listener = start_with(&[repo_path("config")], Some(Arc::new(creator)), TIMEOUT).await;
    let body = fixture("pull_request.opened");
    let signature =
        eventlistener::interceptors::signature::sign_sha256(DEV_SECRET.as_bytes(), &body);
    let sent = reqwest::Client::new()
        .post(&listener.url)
        .header("X-GitHub-Event", "pull_request")
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(sent.is_err(), "the client gave up before the answer");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while created.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the trigger never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(created.load(std::sync::atomic::Ordering::SeqCst), 1);
}

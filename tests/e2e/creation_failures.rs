//! What the sender is told when creating objects fails or takes too long.

use std::sync::Arc;
use std::time::Duration;

use eventlistener::resources::{BoxFuture, Created, Creator, Error, Resource};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{Notify, watch};

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

/// A creator that says when a create has started, then waits to be released before it counts
/// the create as done. A create whose future is dropped (cancelled) is never counted.
#[derive(Debug)]
struct Gated {
    started: Notify,
    release: Notify,
    created: watch::Sender<usize>,
}

impl Creator for Gated {
    fn create(&self, resource: Resource) -> BoxFuture<'_, Result<Created, Error>> {
        Box::pin(async move {
            self.started.notify_one();
            self.release.notified().await;
            self.created.send_modify(|n| *n += 1);
            Ok(Created {
                api_version: resource.api_version().to_owned(),
                kind: resource.kind().to_owned(),
                namespace: resource.namespace().to_owned(),
                name: "gated".into(),
                duplicate: false,
            })
        })
    }
}

#[tokio::test]
async fn triggers_finish_even_when_the_sender_hangs_up() {
    let gate = Arc::new(Gated {
        started: Notify::new(),
        release: Notify::new(),
        created: watch::Sender::new(0),
    });
    let mut created = gate.created.subscribe();
    let creator: Arc<dyn Creator> = gate.clone();
    let listener = start_with(&[repo_path("config")], Some(creator), TIMEOUT).await;
    let body = fixture("pull_request.opened");
    let signature =
        eventlistener::interceptors::signature::sign_sha256(DEV_SECRET.as_bytes(), &body);
    // A raw connection, so that the test decides when the sender hangs up and sees when the
    // server has noticed.
    let address = listener.addr;
    let mut sender = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: pull_request\r\nX-Hub-Signature-256: {signature}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    sender.write_all(head.as_bytes()).await.expect("send head");
    sender.write_all(&body).await.expect("send body");
    tokio::time::timeout(TIMEOUT, gate.started.notified())
        .await
        .expect("the event never reached the creator");

    // Hang up while the create is under way, and wait until the server has closed its side:
    // the connection, and with it the request handler, is then gone.
    sender.shutdown().await.expect("hang up");
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(TIMEOUT, sender.read_to_end(&mut answer))
        .await
        .expect("the server never noticed the hang-up");
    assert!(
        answer.is_empty(),
        "no answer before the create finished: {closed:?} {}",
        String::from_utf8_lossy(&answer)
    );

    gate.release.notify_one();
    tokio::time::timeout(TIMEOUT, created.wait_for(|n| *n > 0))
        .await
        .expect("the trigger never finished after the sender hung up")
        .expect("the creator is alive");
    assert_eq!(*created.borrow(), 1);
}

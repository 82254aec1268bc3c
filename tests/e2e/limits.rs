//! Memory and work bounded before authentication: budgets decided from Content-Length before
//! the body is read, client faults answered 4xx with the eventID, and an unauthenticated body
//! never built into a tree.

use std::sync::Arc;
use std::time::Duration;

use eventlistener::event_listener::{Listener, ListenerHandle, LoadOptions};
use eventlistener::resources::DirCreator;
use eventlistener::sink::limits::InflightLimits;
use eventlistener::sink::{AppState, serve};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::{DEV_SECRET, TIMEOUT, deliver, fixture, repo_path, spawn_serve};

/// A listener on `config/` with these budgets and a 1 MiB body limit; its address.
async fn start_limited(limits: InflightLimits) -> (String, tempfile::TempDir) {
    let listener = Listener::load(&LoadOptions {
        paths: vec![repo_path("config")],
        ..LoadOptions::default()
    })
    .expect("config loads");
    let out = tempfile::tempdir().expect("tempdir");
    let creator = Arc::new(DirCreator::new(out.path()).expect("dir"));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = tcp.local_addr().expect("addr").to_string();
    let state = AppState {
        max_body_bytes: 1024 * 1024,
        limits,
        ..AppState::new(ListenerHandle::fixed(listener), creator)
    };
    tokio::spawn(serve(tcp, state, std::future::pending()));
    (address, out)
}

/// Sends `head` (and then `body`, unless `None`) on a new connection, half-closes it when
/// `half_close`, and reads the answer: status, headers text, JSON body.
async fn raw_exchange(
    address: &str,
    head: &str,
    body: Option<&[u8]>,
    half_close: bool,
) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    if let Some(body) = body {
        stream.write_all(body).await.expect("write body");
    }
    if half_close {
        stream.shutdown().await.expect("half-close");
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(TIMEOUT, async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            // One answer is enough: stop once its JSON body has arrived.
            if answer.ends_with(b"}\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer in time");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = serde_json::from_str(body.trim()).unwrap_or(Value::String(body.to_owned()));
    (status, headers.to_ascii_lowercase(), body)
}

fn post_head(content_length: Option<usize>) -> String {
    let length = content_length.map_or_else(
        || "Transfer-Encoding: chunked\r\n".to_owned(),
        |n| format!("Content-Length: {n}\r\n"),
    );
    format!(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nX-GitHub-Event: pull_request\r\n{length}\r\n"
    )
}

#[tokio::test]
async fn a_body_cut_short_by_the_client_is_400_with_the_event_id() {
    let (address, out) = start_limited(InflightLimits::default()).await;
    let (status, _, body) =
        raw_exchange(&address, &post_head(Some(100)), Some(b"{\"a\":"), true).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.starts_with("the request body could not be read")),
        "{body}"
    );
    assert!(body["eventID"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(std::fs::read_dir(out.path()).expect("out").count(), 0);
}

#[tokio::test]
async fn past_the_byte_budget_the_answer_is_503_before_the_body_is_read() {
    let (address, _out) = start_limited(InflightLimits::new(1024, 1000)).await;
    // Only the head is sent: the answer must come without the body.
    let (status, headers, body) = raw_exchange(&address, &post_head(Some(5000)), None, false).await;
    assert_eq!(status, 503, "{body}");
    assert!(headers.contains("retry-after: 1"), "{headers}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("body bytes in flight")),
        "{body}"
    );
    assert!(body["eventID"].is_string());
}

#[tokio::test]
async fn past_the_event_cap_the_answer_is_503_until_the_event_ends() {
    let (address, _out) = start_limited(InflightLimits::new(1, 1024 * 1024)).await;
    // One event in flight: its body never finishes.
    let mut holder = TcpStream::connect(&address).await.expect("connect");
    holder
        .write_all(format!("{}{{\"a\":", post_head(Some(100))).as_bytes())
        .await
        .expect("write");
    let url = format!("http://{address}/");
    let body = fixture("pull_request.opened");
    // The holder's request is admitted asynchronously: wait (bounded) until the cap is felt.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let refused = loop {
        let reply = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
        if reply.status == 503 {
            break reply;
        }
        assert!(tokio::time::Instant::now() < deadline, "never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        refused.body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("too many events in flight")),
        "{}",
        refused.body
    );
    drop(holder);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let reply = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
        if reply.status == 202 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never admitted again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_with_the_event_id() {
    let (address, _out) = start_limited(InflightLimits::default()).await;
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(post_head(None).as_bytes())
        .await
        .expect("head");
    // 2 MiB in 64 KiB chunks against a 1 MiB limit; the server may answer (and close) early.
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..32 {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if stream.write_all(&frame).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("\"eventID\":\""), "{text}");
}

/// The real binary at debug level: an unsigned body to a config whose triggers all check a
/// signature is refused without being parsed into a tree; a signed one is parsed once.
#[tokio::test]
async fn an_unauthenticated_body_is_never_built_into_a_tree() {
    let out = tempfile::tempdir().expect("tempdir");
    let sink = format!("dir:{}", out.path().display());
    let mut served = spawn_serve(
        &["-f", "config/", "--sink", &sink, "--drain-delay", "0"],
        &[("RUST_LOG", "eventlistener=debug")],
    )
    .await;
    let url = served.url();
    let body = fixture("pull_request.opened");
    let unsigned = deliver(&url, "pull_request", &body, None).await;
    assert_eq!(unsigned.status, 403, "{}", unsigned.body);
    let wrong = deliver(&url, "pull_request", &body, Some("not-the-secret")).await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let signed = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(signed.status, 202, "{}", signed.body);
    // SIGTERM, not SIGKILL: lines are written by a thread of their own, and a killed process
    // loses those it had not written yet (the shutdown writes every queued line).
    served.sigterm();
    let log = served.rest_of_log().await;
    let parsed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("body parsed into a tree"))
        .collect();
    // Exactly one tree, and it belongs to the signed event.
    assert_eq!(parsed.len(), 1, "{log}");
    let signed_id = signed.body["eventID"].as_str().expect("eventID");
    assert!(parsed[0].contains(signed_id), "{}", parsed[0]);
    for refused in [&unsigned, &wrong] {
        let id = refused.body["eventID"].as_str().expect("eventID");
        assert!(log.contains(id), "the refused event {id} is logged");
    }
}

//! Connections that cannot pin the server: a client stalled mid-header is closed within the
//! read timeout, and shutdown completes with such a client open, in-process and through the real
//! binary's SIGTERM.

use std::time::Duration;

use eventlistener::listener::{Listener, ListenerHandle, LoadOptions};
use eventlistener::resources::NullCreator;
use eventlistener::sink::{AppState, ConnectionOptions, serve_with};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::{DEV_SECRET, TIMEOUT, deliver, fixture, repo_path};

const STALLED_HEAD: &[u8] = b"POST / HTTP/1.1\r\nHost: test\r\nContent-Type: appl";

async fn start(
    options: ConnectionOptions,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = Listener::load(&LoadOptions {
        paths: vec![repo_path("config")],
        ..LoadOptions::default()
    })
    .expect("config loads");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = tcp.local_addr().expect("addr").to_string();
    let state = AppState::new(
        ListenerHandle::fixed(listener),
        std::sync::Arc::new(NullCreator),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(tcp, state, options, async {
        let _ = stopped.await;
    }));
    (address, stop, server)
}

/// Reads until the server closes the connection; `Err` if it is still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, ()> {
    let mut seen = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut seen))
        .await
        .map(|_| seen)
        .map_err(|_| ())
}

#[tokio::test]
async fn a_client_stalled_mid_header_is_closed_within_the_read_timeout() {
    let options = ConnectionOptions {
        read_timeout: Duration::from_secs(1),
        ..ConnectionOptions::default()
    };
    let (address, _stop, _server) = start(options).await;
    let mut stalled = TcpStream::connect(&address).await.expect("connect");
    stalled.write_all(STALLED_HEAD).await.expect("write");
    // Closed by the server after ~1 s; the bound only guards against never.
    assert!(
        closed_within(&mut stalled, TIMEOUT).await.is_ok(),
        "the stalled connection was never closed"
    );
    // The server still serves others.
    let reply = deliver(
        &format!("http://{address}/"),
        "pull_request",
        &fixture("pull_request.opened"),
        Some(DEV_SECRET),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
}

#[tokio::test]
async fn shutdown_completes_with_a_stalled_client_open() {
    // A read timeout far beyond the test's bound: only the shutdown path can close it.
    let options = ConnectionOptions {
        read_timeout: Duration::from_secs(600),
        shutdown_timeout: Duration::from_secs(2),
        ..ConnectionOptions::default()
    };
    let (address, stop, server) = start(options).await;
    let mut stalled = TcpStream::connect(&address).await.expect("connect");
    stalled.write_all(STALLED_HEAD).await.expect("write");
    // An idle keep-alive connection too.
    let client = reqwest::Client::new();
    let ready = client
        .get(format!("http://{address}/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
    stop.send(()).expect("server running");
    let finished = tokio::time::timeout(TIMEOUT, server).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "serve did not return after shutdown: {finished:?}"
    );
    assert!(
        closed_within(&mut stalled, TIMEOUT).await.is_ok(),
        "the stalled connection outlived the server"
    );
}

#[tokio::test]
async fn sigterm_exits_zero_with_a_stalled_client_open() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let address = format!("127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventlistener"))
        .args(["serve", "--sink", "null", "--address", &address])
        .args(["--readtimeout", "600", "--shutdown-timeout", "2", "-f"])
        .arg(repo_path("config"))
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut stalled = loop {
        if let Ok(stream) = TcpStream::connect(&address).await {
            break stream;
        }
        assert!(tokio::time::Instant::now() < deadline, "never listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stalled.write_all(STALLED_HEAD).await.expect("write");
    // The stalled request is in the server's hands once /ready answers on another connection.
    let ready = reqwest::Client::new()
        .get(format!("http://{address}/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(TIMEOUT, child.wait())
        .await
        .expect("exits within the shutdown timeout")
        .expect("status");
    assert!(status.success(), "{status:?}");
}

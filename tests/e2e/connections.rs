//! Connection timeouts, the connection cap and the shutdown sequence (`serve_with`, and the
//! binary's flags and SIGTERM handling).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use eventlistener::event_listener::{Listener, ListenerHandle, LoadOptions};
use eventlistener::interceptors::signature::sign_sha256;
use eventlistener::resources::{BoxFuture, Created, Creator, DirCreator, Error, Resource};
use eventlistener::sink::{AppState, Drain, ServeOptions, serve_with};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::{
    BinaryOutput, DEV_SECRET, TIMEOUT, deliver_as, fixture, repo_path, run_binary, spawn_serve,
};

/// A listener on `config/` served in-process with `options`, a dir creator wrapped by `wrap`.
struct Served {
    addr: std::net::SocketAddr,
    out: tempfile::TempDir,
    drain: Drain,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Completes the shutdown future given to `serve_with` (what SIGTERM does in the binary).
    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    fn created(&self) -> usize {
        std::fs::read_dir(self.out.path())
            .expect("out dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .count()
    }
}

async fn serve_config(
    options: ServeOptions,
    wrap: impl FnOnce(Arc<dyn Creator>) -> Arc<dyn Creator>,
) -> Served {
    let listener = Listener::load(&LoadOptions {
        paths: vec![repo_path("config")],
        ..LoadOptions::default()
    })
    .expect("config loads");
    let out = tempfile::tempdir().expect("tempdir");
    let creator = wrap(Arc::new(DirCreator::new(out.path()).expect("dir creator")));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let state = AppState::new(ListenerHandle::fixed(listener), creator);
    let drain = state.drain.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(tcp, state, options, async {
        let _ = stopped.await;
    }));
    Served {
        addr,
        out,
        drain,
        stop: Some(stop),
        server,
    }
}

/// A signed `pull_request.opened` delivery (one PipelineRun) with its own delivery ID.
async fn deliver_opened(url: &str, delivery: &str) -> u16 {
    let body = fixture("pull_request.opened");
    deliver_as(url, "pull_request", &body, Some(DEV_SECRET), Some(delivery))
        .await
        .status
}

async fn ready_status(url: &str) -> u16 {
    crate::support::probe(url, "ready").await.0
}

/// Opens a connection and sends half a request head.
async fn stalled_client(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    stream
}

/// Reads until the server closes the connection (EOF or reset), at most `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

fn short(read_timeout: Duration) -> ServeOptions {
    ServeOptions {
        read_timeout,
        drain_delay: Duration::from_millis(200),
        ..ServeOptions::default()
    }
}

#[tokio::test]
async fn a_client_stalled_mid_header_is_closed_within_the_read_timeout() {
    let served = serve_config(short(Duration::from_secs(1)), |c| c).await;
    let started = Instant::now();
    let mut stream = stalled_client(served.addr).await;
    assert!(
        closed_within(&mut stream, Duration::from_secs(5)).await,
        "still open 5 s after a 1 s read timeout"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the read timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_outlives_the_read_timeout_until_the_idle_timeout() {
    let served = serve_config(
        ServeOptions {
            idle_timeout: Duration::from_secs(3),
            ..short(Duration::from_secs(1))
        },
        |c| c,
    )
    .await;
    let mut stream = TcpStream::connect(served.addr).await.expect("connect");
    stream
        .write_all(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(TIMEOUT, stream.read(&mut buf))
        .await
        .expect("answered in time")
        .expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let idle_since = Instant::now();
    // Twice the read timeout: hyper's own header timer would have closed it by now.
    assert!(
        !closed_within(&mut stream, Duration::from_secs(2)).await,
        "an idle keep-alive connection was closed at the read timeout"
    );
    assert!(
        closed_within(&mut stream, Duration::from_secs(5)).await,
        "an idle keep-alive connection outlived the idle timeout"
    );
    assert!(idle_since.elapsed() >= Duration::from_millis(2900));
}

#[tokio::test]
async fn a_body_not_received_within_the_read_timeout_answers_408() {
    let served = serve_config(short(Duration::from_secs(1)), |c| c).await;
    let mut stream = TcpStream::connect(served.addr).await.expect("connect");
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer within 5 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"eventID\""), "{answer}");
}

/// Counts calls, then holds each until the gate opens, then creates through `inner`.
#[derive(Debug)]
struct Gated {
    inner: Arc<dyn Creator>,
    entered: Arc<AtomicUsize>,
    gate: tokio::sync::watch::Receiver<bool>,
}

impl Creator for Gated {
    fn create(&self, resource: Resource) -> BoxFuture<'_, Result<Created, Error>> {
        Box::pin(async move {
            self.entered.fetch_add(1, Ordering::SeqCst);
            let mut gate = self.gate.clone();
            let _ = gate.wait_for(|open| *open).await;
            self.inner.create(resource).await
        })
    }
}

/// Polls `condition` every 20 ms until it holds, at most [`TIMEOUT`].
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    tokio::time::timeout(TIMEOUT, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test]
async fn shutdown_with_twenty_events_in_flight_and_a_stalled_client_finishes_them_all() {
    let entered = Arc::new(AtomicUsize::new(0));
    let (open_gate, gate) = tokio::sync::watch::channel(false);
    let options = ServeOptions {
        // Long enough that only the shutdown can close the stalled client in time.
        read_timeout: Duration::from_secs(60),
        drain_delay: Duration::from_millis(300),
        // Longer than the test's own deadline: returning in time means drained, not cut.
        shutdown_timeout: Duration::from_secs(120),
        ..ServeOptions::default()
    };
    let mut served = serve_config(options, {
        let entered = Arc::clone(&entered);
        move |inner| {
            Arc::new(Gated {
                inner,
                entered,
                gate,
            })
        }
    })
    .await;
    let mut stalled = stalled_client(served.addr).await;
    let url = served.url();
    let events: Vec<_> = (0..20)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move { deliver_opened(&url, &format!("delivery-{i}")).await })
        })
        .collect();
    eventually("20 creations waiting at the gate", || {
        entered.load(Ordering::SeqCst) == 20
    })
    .await;
    assert_eq!(served.drain.events_in_flight(), 20);

    served.shut_down();
    eventually("the drain to start", || served.drain.is_draining()).await;
    // The listener stops accepting after the drain delay and closes the stalled client, but
    // waits for the 20 events.
    assert!(
        closed_within(&mut stalled, TIMEOUT).await,
        "the stalled client is still open"
    );
    assert!(!served.server.is_finished());
    open_gate.send_replace(true);

    for event in events {
        let status = tokio::time::timeout(TIMEOUT, event)
            .await
            .expect("answered in time")
            .expect("no panic");
        assert_eq!(status, 202);
    }
    tokio::time::timeout(TIMEOUT, &mut served.server)
        .await
        .expect("serve returns once drained")
        .expect("no panic")
        .expect("no error");
    assert_eq!(served.created(), 20);
    assert_eq!(served.drain.events_in_flight(), 0);
}

#[tokio::test]
async fn ready_answers_503_during_the_drain_delay_while_events_are_still_accepted() {
    let mut served = serve_config(
        ServeOptions {
            drain_delay: Duration::from_secs(60),
            ..ServeOptions::default()
        },
        |c| c,
    )
    .await;
    let url = served.url();
    assert_eq!(ready_status(&url).await, 200);
    served.shut_down();
    eventually("the drain to start", || served.drain.is_draining()).await;
    assert_eq!(ready_status(&url).await, 503);
    assert_eq!(deliver_opened(&url, "during-drain").await, 202);
    assert_eq!(served.created(), 1);
    assert!(!served.server.is_finished());
}

/// Threads of this process named `sink-*`: the serving threads of `serve_with` (nextest runs
/// each test in a process of its own).
fn sink_threads() -> usize {
    sink_threads_of(std::process::id())
}

#[tokio::test]
async fn each_serving_thread_takes_connections_and_every_one_leaves_at_shutdown() {
    let mut served = serve_config(
        ServeOptions {
            threads: 3,
            drain_delay: Duration::ZERO,
            ..ServeOptions::default()
        },
        |c| c,
    )
    .await;
    // The server task starts them when it first runs.
    eventually("3 serving threads", || sink_threads() == 3).await;
    let url = served.url();
    let answers = futures::future::join_all((0..12).map(|i| {
        let url = url.clone();
        async move { deliver_opened(&url, &format!("thread-test-{i}")).await }
    }))
    .await;
    assert_eq!(answers, vec![202; 12]);
    assert_eq!(served.created(), 12);
    served.shut_down();
    tokio::time::timeout(TIMEOUT, &mut served.server)
        .await
        .expect("shut down in time")
        .expect("no panic")
        .expect("no error");
    eventually("every serving thread to exit", || sink_threads() == 0).await;
    assert!(
        TcpStream::connect(served.addr).await.is_err(),
        "the socket is still open after shutdown"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let served = serve_config(
        ServeOptions {
            max_connections: 1,
            ..ServeOptions::default()
        },
        |c| c,
    )
    .await;
    let get_live = b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut buf = [0u8; 1024];
    let mut first = TcpStream::connect(served.addr).await.expect("connect");
    first.write_all(get_live).await.expect("write");
    let n = tokio::time::timeout(TIMEOUT, first.read(&mut buf))
        .await
        .expect("first answered in time")
        .expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    // The kernel completes the handshake (accept queue), but the listener does not accept.
    let mut second = TcpStream::connect(served.addr).await.expect("connect");
    second.write_all(get_live).await.expect("write");
    let early = tokio::time::timeout(Duration::from_millis(500), second.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the second connection was served while the first was open"
    );

    drop(first);
    let n = tokio::time::timeout(TIMEOUT, second.read(&mut buf))
        .await
        .expect("second answered once the first closed")
        .expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn serve_help_lists_the_connection_and_shutdown_flags() {
    let BinaryOutput { code, stdout, .. } = run_binary(&["serve", "--help"]).await;
    assert_eq!(code, Some(0));
    for flag in [
        "--idempotency <BOOL>",
        "--delivery-id-header <HEADER>",
        "--max-inflight-events <N>",
        "--max-inflight-body-bytes <BYTES>",
        "--response-detail <BOOL>",
        "--max-body-bytes",
        "--timeout-handler",
        "--readtimeout <SECONDS>",
        "--writetimeout <SECONDS>",
        "--idletimeout <SECONDS>",
        "--max-connections <N>",
        "--drain-delay <SECONDS>",
        "--shutdown-timeout <SECONDS>",
        "--threads <N>",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from:\n{stdout}");
    }
    assert!(stdout.contains("[default: 5]"), "{stdout}");
    assert!(stdout.contains("[default: 120]"), "{stdout}");
    assert!(stdout.contains("[default: 10000]"), "{stdout}");
}

#[tokio::test]
async fn serve_refuses_bad_connection_flag_values() {
    for (flag, value) in [
        ("--readtimeout", "0"),
        ("--writetimeout", "0"),
        ("--idletimeout", "-1"),
        ("--max-connections", "0"),
        ("--drain-delay", "soon"),
        ("--shutdown-timeout", "1.5"),
        ("--max-inflight-events", "lots"),
        ("--max-inflight-body-bytes", "-5"),
        ("--idempotency", "maybe"),
        ("--response-detail", "sometimes"),
        ("--threads", "0"),
    ] {
        // `--flag=value`, so that `-1` is read as the value and not as a flag.
        let arg = format!("{flag}={value}");
        let BinaryOutput { code, stderr, .. } =
            run_binary(&["serve", "-f", "config/", "--address", "127.0.0.1:0", &arg]).await;
        assert_eq!(code, Some(2), "{arg} accepted: {stderr}");
        assert!(
            stderr.contains(&format!("invalid value '{value}' for '{flag}")),
            "{arg}: {stderr}"
        );
    }
}

/// Threads of process `pid` named `sink-*` (0 once the process is gone).
fn sink_threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter(|task| {
                    std::fs::read_to_string(task.path().join("comm"))
                        .is_ok_and(|name| name.starts_with("sink-"))
                })
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn serve_threads_sets_how_many_threads_serve_the_sink() {
    for threads in [1_usize, 3] {
        let served = spawn_serve(
            &[
                "-f",
                "config/",
                "--sink",
                "null",
                "--threads",
                &threads.to_string(),
            ],
            &[],
        )
        .await;
        let pid = served.child.id().expect("running");
        eventually("the serving threads", || sink_threads_of(pid) == threads).await;
        assert_eq!(
            deliver_opened(&served.url(), &format!("threads-{threads}")).await,
            202
        );
    }
}

#[tokio::test]
async fn sigterm_with_a_stalled_client_exits_zero_within_the_shutdown_timeout() {
    let out = tempfile::tempdir().expect("tempdir");
    let sink = format!("dir:{}", out.path().display());
    let mut served = spawn_serve(
        &[
            "-f",
            "config/",
            "--sink",
            &sink,
            // The stalled client must be closed by the shutdown, not by its read timeout.
            "--readtimeout",
            "60",
            "--drain-delay",
            "1",
            "--shutdown-timeout",
            "10",
        ],
        &[("RUST_LOG", "info")],
    )
    .await;
    let addr = served.addr;
    let url = format!("http://{addr}/");
    assert_eq!(deliver_opened(&url, "before-sigterm").await, 202);
    let mut stalled = stalled_client(addr).await;

    served.sigterm();

    // Drain delay 1 s + shutdown timeout 10 s + margin; exiting early means drained.
    let status = tokio::time::timeout(Duration::from_secs(15), served.child.wait())
        .await
        .expect("exits within the shutdown timeout")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    assert!(closed_within(&mut stalled, Duration::from_secs(1)).await);
    let log = served.rest_of_log().await;
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("events_in_flight=0"), "{log}");
    assert!(log.contains("drained"), "{log}");
    assert_eq!(std::fs::read_dir(out.path()).expect("out").count(), 1);
}

/// SIGTERM to the real binary while 20 events are in flight (their bodies half sent) and a client
/// is stalled mid-header: the 20 are finished and created, the stalled client is closed, and the
/// process exits 0.
#[tokio::test]
async fn sigterm_with_twenty_events_in_flight_finishes_them_all_and_exits_zero() {
    let out = tempfile::tempdir().expect("tempdir");
    let sink = format!("dir:{}", out.path().display());
    let mut served = spawn_serve(
        &[
            "-f",
            "config/",
            "--sink",
            &sink,
            "--readtimeout",
            "60",
            "--drain-delay",
            "1",
            "--shutdown-timeout",
            "10",
            // A 21st event is refused: that is how the test knows the 20 are in flight.
            "--max-inflight-events",
            "20",
        ],
        &[("RUST_LOG", "info")],
    )
    .await;
    let body = fixture("pull_request.opened");
    let signature = sign_sha256(DEV_SECRET.as_bytes(), &body);
    let half = body.len() / 2;
    // 21 requests with half their body: 20 are admitted and wait for the rest; one, whichever
    // came last, is refused at once. The refusal proves the other 20 are in flight.
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
    let mut writers = Vec::new();
    for i in 0..21 {
        let stream = TcpStream::connect(served.addr).await.expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: pull_request\r\nX-GitHub-Delivery: in-flight-{i}\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        writer.write_all(head.as_bytes()).await.expect("head");
        writer.write_all(&body[..half]).await.expect("half a body");
        writers.push(writer);
        let answered = answered.clone();
        tokio::spawn(async move {
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            while !answer.ends_with(b"}\n") {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                }
            }
            let _ = answered.send((i, String::from_utf8_lossy(&answer).into_owned()));
        });
    }
    drop(answered);
    let (refused, text) = tokio::time::timeout(TIMEOUT, answers.recv())
        .await
        .expect("one of 21 refused in time")
        .expect("an answer");
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    let mut stalled = stalled_client(served.addr).await;

    served.sigterm();
    // The rest of the bodies only once the listener has seen the signal (`/ready` no longer
    // 200): on a loaded machine the signal can be handled after the bodies arrive, and the
    // events would finish before the shutdown line counts them.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while ready_status(&served.url()).await == 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listener saw SIGTERM in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (i, writer) in writers.iter_mut().enumerate() {
        if i != refused {
            writer
                .write_all(&body[half..])
                .await
                .expect("rest of the body");
        }
    }
    for _ in 0..20 {
        let (i, text) = tokio::time::timeout(TIMEOUT, answers.recv())
            .await
            .expect("answered in time")
            .expect("an answer");
        assert_ne!(i, refused);
        assert!(text.starts_with("HTTP/1.1 202"), "{i}: {text}");
    }
    let status = tokio::time::timeout(TIMEOUT, served.child.wait())
        .await
        .expect("exits within the shutdown timeout")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    assert!(closed_within(&mut stalled, Duration::from_secs(1)).await);
    let log = served.rest_of_log().await;
    assert!(log.contains("events_in_flight=20"), "{log}");
    assert_eq!(std::fs::read_dir(out.path()).expect("out").count(), 20);
}

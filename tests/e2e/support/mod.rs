//! Starting a listener and talking to it.

pub(crate) mod api_server;
pub(crate) mod github_api;
pub(crate) mod github_hooks;
pub(crate) mod relay;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eventlistener::event_listener::{Listener, ListenerHandle, LoadOptions};
use eventlistener::interceptors::signature::sign_sha256;
use eventlistener::resources::{Creator, DirCreator};
use eventlistener::sink::{AppState, serve};
use serde_json::Value;

/// The development secret of `config/secret.yaml`.
pub(crate) const DEV_SECRET: &str = "chespirito-dev-webhook-secret";

/// Every wait in these tests is bounded by this.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_path(&format!("fixtures/github/{name}.json"))).expect("fixture exists")
}

/// A running listener; stops when dropped.
pub(crate) struct Running {
    /// `http://ADDR/`.
    pub(crate) url: String,
    /// The address it listens on, for tests that speak raw TCP or put a relay in front.
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) out: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// Every object created so far.
    pub(crate) fn created(&self) -> Vec<Value> {
        created_in(self.out.path())
    }
}

/// Every object a dir sink (`--sink dir:DIR`) has written to `dir` so far, by file name.
pub(crate) fn created_in(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).expect("read")).expect("valid JSON"))
        .collect()
}

/// Starts the listener on `paths` with a dir sink in a fresh temp dir.
pub(crate) async fn start(paths: &[PathBuf]) -> Running {
    start_with(paths, None, TIMEOUT).await
}

/// Starts the listener on `paths` with `creator` (default: a dir sink in a fresh temp dir) and
/// an event deadline.
pub(crate) async fn start_with(
    paths: &[PathBuf],
    creator: Option<Arc<dyn Creator>>,
    event_timeout: Duration,
) -> Running {
    start_configured(paths, creator, |state| AppState {
        event_timeout,
        ..state
    })
    .await
}

/// Starts the listener on `paths` with `creator` (default: a dir sink in a fresh temp dir), a
/// 1 MiB body limit, and the state as `configure` changes it.
pub(crate) async fn start_configured(
    paths: &[PathBuf],
    creator: Option<Arc<dyn Creator>>,
    configure: impl FnOnce(AppState) -> AppState,
) -> Running {
    let listener = Listener::load(&LoadOptions {
        paths: paths.to_vec(),
        ..LoadOptions::default()
    })
    .expect("config loads");
    start_listener(listener, creator, configure).await
}

/// Serves `listener` with `creator` (default: a dir sink in a fresh temp dir), a 1 MiB body
/// limit, and the state as `configure` changes it.
pub(crate) async fn start_listener(
    listener: Listener,
    creator: Option<Arc<dyn Creator>>,
    configure: impl FnOnce(AppState) -> AppState,
) -> Running {
    let out = tempfile::tempdir().expect("tempdir");
    let creator =
        creator.unwrap_or_else(|| Arc::new(DirCreator::new(out.path()).expect("dir creator")));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let url = format!("http://{addr}/");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = configure(AppState {
        max_body_bytes: 1024 * 1024,
        ..AppState::new(ListenerHandle::fixed(listener), creator)
    });
    tokio::spawn(serve(tcp, state, async {
        let _ = stopped.await;
    }));
    Running {
        url,
        addr,
        out,
        _stop: stop,
    }
}

/// Starts the listener on the repository's default `config/`.
pub(crate) async fn start_default() -> Running {
    start(&[repo_path("config")]).await
}

/// GETs `{base}{path}` (a probe: `live`, `ready`): status and body, or status 0 when nothing
/// answers (not listening yet).
pub(crate) async fn probe(base: &str, path: &str) -> (u16, String) {
    let answer = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .timeout(TIMEOUT)
        .send()
        .await;
    match answer {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

/// A response: status and JSON body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Reply {
    /// Reads `response` whole: its status, and its body as JSON (as a JSON string when it is
    /// not JSON).
    pub(crate) async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body }
    }
}

/// POSTs `body` as GitHub would: event header, a new delivery ID, and (if `secret`) the
/// signature.
pub(crate) async fn deliver(url: &str, event: &str, body: &[u8], secret: Option<&str>) -> Reply {
    let delivery_id = uuid::Uuid::new_v4().to_string();
    deliver_as(url, event, body, secret, Some(&delivery_id)).await
}

/// [`deliver`] with the given `X-GitHub-Delivery` (none when `None`): a redelivery sends the
/// same one again.
pub(crate) async fn deliver_as(
    url: &str,
    event: &str,
    body: &[u8],
    secret: Option<&str>,
    delivery_id: Option<&str>,
) -> Reply {
    let signature = secret.map(|secret| sign_sha256(secret.as_bytes(), body));
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("User-Agent", "GitHub-Hookshot/test"),
        ("X-GitHub-Event", event),
    ];
    if let Some(delivery_id) = delivery_id {
        headers.push(("X-GitHub-Delivery", delivery_id));
    }
    if let Some(signature) = &signature {
        headers.push(("X-Hub-Signature-256", signature));
    }
    post(url, &headers, body).await
}

/// POSTs `body` with `headers` (name, value) and nothing else: [`deliver_as`] with GitHub's
/// headers, and senders other than GitHub (GitLab, Bitbucket, Slack).
pub(crate) async fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("client");
    let mut request = client.post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .body(body.to_vec())
        .send()
        .await
        .expect("request sent");
    Reply::read(response).await
}

/// The hex HMAC of `message` keyed with `key`, computed by Python's `hmac` module (`digest`:
/// `sha1`, `sha256`, `sha512`), so that signatures in tests do not come from the listener's
/// own code.
pub(crate) fn python_hmac_hex(digest: &str, key: &str, message: &[u8]) -> String {
    use std::io::Write as _;
    let script = "import hashlib, hmac, sys\n\
        print(hmac.new(sys.argv[2].encode(), sys.stdin.buffer.read(), getattr(hashlib, sys.argv[1])).hexdigest())";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, digest, key])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (needed to sign independently)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(message)
        .expect("message written");
    let output = child.wait_with_output().expect("python3 finishes");
    assert!(output.status.success(), "python3 failed");
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

/// What a run of the binary printed.
pub(crate) struct BinaryOutput {
    /// Exit code (`None` when killed by a signal).
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs the binary with `args` in the repository's directory to completion, bounded by
/// [`TIMEOUT`].
pub(crate) async fn run_binary(args: &[&str]) -> BinaryOutput {
    let output = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_eventlistener"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the binary finishes in time")
    .expect("the binary runs");
    BinaryOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `eventlistener serve` as a process, on a port of its choosing; killed when dropped.
pub(crate) struct Spawned {
    pub(crate) child: tokio::process::Child,
    /// Where it listens.
    pub(crate) addr: std::net::SocketAddr,
    /// Where it serves `/metrics`.
    pub(crate) metrics_addr: std::net::SocketAddr,
    /// Its log up to and including the `listening` line.
    pub(crate) head: String,
    /// Reads its log (stderr) all along, so the pipe never fills and blocks the server; ends with
    /// the process and returns the lines after `listening`.
    log: tokio::task::JoinHandle<String>,
}

impl Spawned {
    /// `http://ADDR/`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Sends SIGTERM, as the kubelet does to stop a pod.
    pub(crate) fn sigterm(&self) {
        let pid = self.child.id().expect("running").to_string();
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(kill.success());
    }

    /// The log after `listening`, once the process has exited (bounded by [`TIMEOUT`]).
    pub(crate) async fn rest_of_log(&mut self) -> String {
        match tokio::time::timeout(TIMEOUT, &mut self.log).await {
            Ok(Ok(log)) => log,
            _ => panic!("the log did not end in time: has the process exited?"),
        }
    }
}

/// `config/`, creating nothing, stopping at once on SIGTERM: the usual [`spawn_serve`]
/// arguments when what is created does not matter.
pub(crate) const SERVE_CONFIG: [&str; 6] =
    ["-f", "config/", "--sink", "null", "--drain-delay", "0"];

/// Starts `eventlistener serve --address 127.0.0.1:0 --metrics-address 127.0.0.1:0 ARGS…` in the
/// repository's directory with `envs`, and waits (bounded) for its `listening … address=…` log
/// line (after the `metrics_address=…` one).
pub(crate) async fn spawn_serve(args: &[&str], envs: &[(&str, &str)]) -> Spawned {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventlistener"))
        .args(["serve", "--address", "127.0.0.1:0"])
        .args(["--metrics-address", "127.0.0.1:0"])
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    // `field=value` in text lines, `"field":"value"` in JSON ones (`--log-format json`).
    let value = |line: &str, field: &str| -> Option<std::net::SocketAddr> {
        if line.starts_with('{') {
            let json: Value = serde_json::from_str(line).ok()?;
            let addr = json[field.trim().trim_end_matches('=')].as_str()?;
            return Some(addr.parse().expect("socket address"));
        }
        let rest = line.split(field).nth(1)?;
        let addr = rest.split_whitespace().next().expect("address value");
        Some(addr.parse().expect("socket address"))
    };
    let mut head = String::new();
    let (addr, metrics_addr) = tokio::time::timeout(TIMEOUT, async {
        let mut metrics = None;
        while let Some(line) = lines.next_line().await.expect("stderr readable") {
            head.push_str(&line);
            head.push('\n');
            if let Some(addr) = value(&line, " metrics_address=") {
                metrics = Some(addr);
            }
            if !line.contains("listening") {
                continue;
            }
            if let Some(addr) = value(&line, " address=") {
                return (addr, metrics.expect("metrics served before listening"));
            }
        }
        panic!("serve exited before listening");
    })
    .await
    .expect("listening in time");
    let log = tokio::spawn(async move {
        let mut log = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    Spawned {
        child,
        addr,
        metrics_addr,
        head,
        log,
    }
}

/// `GET url` of a `/metrics` endpoint: 200, OpenMetrics text.
pub(crate) async fn scrape(url: &str) -> String {
    let response = reqwest::Client::new()
        .get(url)
        .timeout(TIMEOUT)
        .send()
        .await
        .expect("/metrics answers");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.text().await.expect("metrics text")
}

/// The value of the sample `series` (name and labels exactly as exported), if present.
pub(crate) fn sample(text: &str, series: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(str::to_owned)
}

/// A URL on 127.0.0.1 where nothing listens (a port bound, then released): a listener that is
/// down.
pub(crate) async fn nothing_listens() -> String {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", tcp.local_addr().expect("addr"));
    drop(tcp);
    url
}

/// Serves the router `app` makes of its own URL on 127.0.0.1 port 0: `http://ADDR` (no
/// trailing slash), and the sender that stops it when dropped.
pub(crate) async fn serve_router(
    app: impl FnOnce(&str) -> axum::Router,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", tcp.local_addr().expect("addr"));
    let app = app(&url);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(tcp, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    (url, stop)
}

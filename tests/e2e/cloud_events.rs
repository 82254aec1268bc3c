//! CloudEvents (issue 13, item 3; reference §2.5, §8.5): a local receiver sees upstream's types
//! with upstream's attributes, in order, for each event; retries as upstream's SDK; a receiver
//! that never answers holds no event and its CloudEvents are dropped and counted; the EventListener's
//! `cloudEventURI` is read by `serve`; an incoming CloudEvent is answered with one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use eventlistener::cloud_events::CloudEvents;
use eventlistener::metrics::Metrics;
use eventlistener::sink::AppState;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::support::{
    DEV_SECRET, SERVE_CONFIG, TIMEOUT, deliver, fixture, repo_path, run_binary, spawn_serve,
    start_configured,
};

/// One request the receiver got.
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("header {name} in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    fn ce_type(&self) -> &str {
        self.header("ce-type")
            .trim_start_matches("dev.tekton.event.triggers.")
            .trim_end_matches(".v1")
    }

    fn data(&self) -> Value {
        serde_json::from_slice(&self.body).expect("data is JSON")
    }
}

/// How the receiver answers.
#[derive(Clone)]
enum Answers {
    /// These statuses first, then 202.
    Statuses(Arc<Mutex<VecDeque<u16>>>),
    /// Never.
    Never,
}

/// A CloudEvents receiver on 127.0.0.1.
struct Receiver {
    url: String,
    got: mpsc::UnboundedReceiver<Received>,
}

/// The receiver's routes: every request is recorded on `send` and answered as `answers` says.
fn receiver_app(send: mpsc::UnboundedSender<Received>, answers: Answers) -> axum::Router {
    axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let send = send.clone();
        let answers = answers.clone();
        async move {
            let _ = send.send(Received { headers, body });
            match answers {
                Answers::Statuses(statuses) => {
                    let status = statuses.lock().unwrap().pop_front().unwrap_or(202);
                    StatusCode::from_u16(status).unwrap()
                }
                Answers::Never => std::future::pending().await,
            }
        }
    })
}

impl Receiver {
    async fn start(answers: Answers) -> Self {
        let (send, got) = mpsc::unbounded_channel();
        let app = receiver_app(send, answers);
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/ce", tcp.local_addr().unwrap());
        tokio::spawn(axum::serve(tcp, app).into_future());
        Self { url, got }
    }

    /// The same receiver over HTTPS, with a certificate for 127.0.0.1 that only its own PEM
    /// (returned) trusts.
    async fn start_https(answers: Answers) -> (Self, String) {
        use hyper_util::rt::TokioIo;
        use hyper_util::service::TowerToHyperService;
        use rustls::pki_types::PrivateKeyDer;
        let generated =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
        let key = PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![generated.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (send, got) = mpsc::unbounded_channel();
        let app = receiver_app(send, answers);
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/ce", tcp.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((stream, _)) = tcp.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                        .await;
                });
            }
        });
        (Self { url, got }, generated.cert.pem())
    }

    /// The next `n` requests, in arrival order (bounded by [`TIMEOUT`]).
    async fn take(&mut self, n: usize) -> Vec<Received> {
        let mut out = Vec::new();
        for _ in 0..n {
            let next = tokio::time::timeout(TIMEOUT, self.got.recv()).await;
            out.push(
                next.unwrap_or_else(|_| panic!("only {} CloudEvent(s) arrived", out.len()))
                    .expect("receiver running"),
            );
        }
        out
    }
}

/// `config/` in-process, sending CloudEvents to `uri` through a queue of `capacity`.
async fn start_sending(uri: &str, capacity: usize) -> (crate::support::Running, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let events = CloudEvents::start(Some(Arc::from(uri)), capacity, Arc::clone(&metrics));
    let running_metrics = Arc::clone(&metrics);
    let running = start_configured(&[repo_path("config")], None, move |state| AppState {
        cloud_events: Some(events),
        metrics: running_metrics,
        ..state
    })
    .await;
    (running, metrics)
}

/// The value of `eventlistener_cloudevents_total{result="…"}`, 0 when absent.
fn counted(metrics: &Metrics, result: &str) -> u64 {
    let text = metrics.encode().unwrap();
    let series = format!("eventlistener_cloudevents_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |v| v.parse().unwrap())
}

/// Waits (bounded) until `eventlistener_cloudevents_total{result}` is `want`.
async fn wait_counted(metrics: &Metrics, result: &str, want: u64) {
    let deadline = Instant::now() + TIMEOUT;
    while counted(metrics, result) != want {
        assert!(
            Instant::now() < deadline,
            "{result}: {} counted, want {want}",
            counted(metrics, result)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn event_id(reply: &crate::support::Reply) -> String {
    reply.body["eventID"].as_str().expect("eventID").to_owned()
}

#[tokio::test]
async fn each_event_is_told_started_successful_or_failed_then_done_in_order() {
    let mut receiver = Receiver::start(Answers::Statuses(Arc::default())).await;
    let (running, metrics) = start_sending(&receiver.url, 64).await;

    let created = deliver(
        &running.url,
        "pull_request",
        &fixture("pull_request.opened"),
        Some(DEV_SECRET),
    )
    .await;
    assert_eq!(created.status, 202, "{}", created.body);
    let refused = deliver(&running.url, "pull_request", b"{not json", Some(DEV_SECRET)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);

    let got = receiver.take(6).await;
    let types: Vec<&str> = got.iter().map(Received::ce_type).collect();
    assert_eq!(
        types,
        ["started", "successful", "done", "started", "failed", "done"]
    );
    let (first, second) = (event_id(&created), event_id(&refused));
    for (i, ce) in got.iter().enumerate() {
        let id = if i < 3 { &first } else { &second };
        assert_eq!(ce.header("ce-id"), id, "one id for all of one event's");
        assert_eq!(ce.header("ce-specversion"), "1.0");
        assert_eq!(
            ce.header("ce-source"),
            "/apis/triggers.tekton.dev/v1beta1/namespaces/default/EventListener/chespirito-github-el"
        );
        assert_eq!(
            ce.header("ce-subject"),
            format!("chespirito-github-el processing {id}")
        );
        assert_eq!(ce.header("content-type"), "application/json");
        chrono::DateTime::parse_from_rfc3339(ce.header("ce-time")).expect("ce-time is RFC 3339");
    }
    // started, successful and a refusal carry the request's headers as Go marshals them;
    // done carries null.
    for ce in [&got[0], &got[1], &got[3], &got[4]] {
        let data = ce.data();
        assert_eq!(data["X-Github-Event"], serde_json::json!(["pull_request"]));
        assert!(data["X-Hub-Signature-256"][0].is_string(), "{data}");
        assert!(data.get("Host").is_none(), "Go leaves Host out: {data}");
    }
    assert_eq!(got[2].data(), Value::Null);
    assert_eq!(got[5].data(), Value::Null);
    wait_counted(&metrics, "sent", 6).await;
    assert_eq!(counted(&metrics, "failed"), 0);
    assert_eq!(counted(&metrics, "dropped"), 0);
}

#[tokio::test]
async fn a_receiver_that_fails_is_retried_as_upstreams_sdk_retries() {
    let statuses: Arc<Mutex<VecDeque<u16>>> = Arc::new(Mutex::new([503, 503].into()));
    let mut receiver = Receiver::start(Answers::Statuses(Arc::clone(&statuses))).await;
    let (running, metrics) = start_sending(&receiver.url, 64).await;

    let ping = deliver(&running.url, "ping", &fixture("ping"), Some(DEV_SECRET)).await;
    let got = receiver.take(4).await;
    let types: Vec<&str> = got.iter().map(Received::ce_type).collect();
    assert_eq!(
        types,
        ["started", "started", "started", "done"],
        "503 is retried"
    );
    assert!(got.iter().all(|ce| ce.header("ce-id") == event_id(&ping)));
    wait_counted(&metrics, "sent", 2).await;
    assert_eq!(counted(&metrics, "failed"), 0);

    // 400 is not retried: that CloudEvent is counted failed, the next one goes on.
    statuses.lock().unwrap().push_back(400);
    deliver(&running.url, "ping", &fixture("ping"), Some(DEV_SECRET)).await;
    let got = receiver.take(2).await;
    let types: Vec<&str> = got.iter().map(Received::ce_type).collect();
    assert_eq!(types, ["started", "done"]);
    wait_counted(&metrics, "sent", 3).await;
    wait_counted(&metrics, "failed", 1).await;
}

#[tokio::test]
async fn a_receiver_that_never_answers_holds_no_event_and_the_overflow_is_counted() {
    let mut receiver = Receiver::start(Answers::Never).await;
    let (running, metrics) = start_sending(&receiver.url, 2).await;
    for _ in 0..5 {
        let reply = deliver(&running.url, "ping", &fixture("ping"), Some(DEV_SECRET)).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    // The first is being sent (and never answered); two wait in the queue; the other seven of
    // the ten (started and done for each of five events) were dropped, or eight if the sender
    // had not yet taken the first when the queue filled.
    let got = receiver.take(1).await;
    assert_eq!(got[0].ce_type(), "started");
    let dropped = counted(&metrics, "dropped");
    assert!((7..=8).contains(&dropped), "{dropped} dropped");
    assert_eq!(counted(&metrics, "sent"), 0);
}

#[tokio::test]
async fn serve_sends_to_the_event_listeners_cloud_event_uri() {
    let mut receiver = Receiver::start(Answers::Statuses(Arc::default())).await;
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo_path("config")).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if text.contains("kind: EventListener") {
            text = text.replacen(
                "\nspec:\n",
                &format!("\nspec:\n  cloudEventURI: {}\n", receiver.url),
                1,
            );
        }
        std::fs::write(dir.path().join(path.file_name().unwrap()), text).unwrap();
    }
    let config = dir.path().to_str().unwrap();
    let server = spawn_serve(&["-f", config, "--sink", "null", "--drain-delay", "0"], &[]).await;
    let ping = deliver(&server.url(), "ping", &fixture("ping"), Some(DEV_SECRET)).await;
    assert_eq!(ping.status, 202, "{}", ping.body);
    let got = receiver.take(2).await;
    let types: Vec<&str> = got.iter().map(Received::ce_type).collect();
    assert_eq!(types, ["started", "done"]);
    assert_eq!(got[0].header("ce-id"), event_id(&ping));
}

#[tokio::test]
async fn an_https_receiver_gets_them_when_its_certificate_is_trusted() {
    let (mut receiver, ca) = Receiver::start_https(Answers::Statuses(Arc::default())).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let url = receiver.url.clone();
    let args = [&SERVE_CONFIG[..], &["--cloudevent-uri", &url]].concat();
    // Trusted through SSL_CERT_FILE, as the system's roots are read.
    let trusting = spawn_serve(&args, &[("SSL_CERT_FILE", ca_file.to_str().unwrap())]).await;
    let ping = deliver(&trusting.url(), "ping", &fixture("ping"), Some(DEV_SECRET)).await;
    assert_eq!(ping.status, 202, "{}", ping.body);
    let got = receiver.take(2).await;
    let types: Vec<&str> = got.iter().map(Received::ce_type).collect();
    assert_eq!(types, ["started", "done"]);
    assert_eq!(got[0].header("ce-id"), event_id(&ping));

    // Not trusted: nothing is sent, both are counted failed, and the event is still answered.
    let other = tempfile::NamedTempFile::new().unwrap();
    let (_, other_ca) = Receiver::start_https(Answers::Statuses(Arc::default())).await;
    std::fs::write(other.path(), other_ca).unwrap();
    let doubting = spawn_serve(&args, &[("SSL_CERT_FILE", other.path().to_str().unwrap())]).await;
    let ping = deliver(&doubting.url(), "ping", &fixture("ping"), Some(DEV_SECRET)).await;
    assert_eq!(ping.status, 202, "{}", ping.body);
    let metrics_url = format!("http://{}/metrics", doubting.metrics_addr);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let text = reqwest::get(&metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("eventlistener_cloudevents_total{result=\"failed\"} 2") {
            break;
        }
        assert!(Instant::now() < deadline, "never counted 2 failed: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), receiver.got.recv())
            .await
            .is_err(),
        "the first receiver got nothing more"
    );
}

#[tokio::test]
async fn an_unusable_cloudevent_uri_refuses_to_start() {
    let ftp = run_binary(
        &[
            &["serve"][..],
            &SERVE_CONFIG,
            &["--cloudevent-uri", "ftp://broker.example/"],
        ]
        .concat(),
    )
    .await;
    assert_ne!(ftp.code, Some(0));
    assert!(
        ftp.stderr.contains("--cloudevent-uri") && ftp.stderr.contains("is not http or https"),
        "{}",
        ftp.stderr
    );
}

#[tokio::test]
async fn an_incoming_cloud_event_is_answered_with_one() {
    let running = start_configured(&[repo_path("config")], None, |state| state).await;
    let body = fixture("ping");
    let client = reqwest::Client::builder().timeout(TIMEOUT).build().unwrap();
    let post = |headers: &[(&str, &str)]| {
        let mut request = client.post(&running.url).body(body.clone());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    for headers in [
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "incoming-1"),
            ("ce-type", "com.example.ping"),
            ("ce-source", "/test"),
            ("Content-Type", "application/json"),
        ][..],
        &[(
            "Content-Type",
            "application/cloudevents+json; charset=utf-8",
        )][..],
    ] {
        let response = post(headers).await.unwrap();
        assert_eq!(response.status().as_u16(), 202);
        let h = response.headers().clone();
        let text = response.text().await.unwrap();
        assert!(!text.ends_with('\n'), "{text:?}");
        let json: Value = serde_json::from_str(&text).unwrap();
        let id = json["eventID"].as_str().unwrap();
        assert_eq!(h["ce-specversion"], "1.0");
        assert_eq!(h["ce-type"], "dev.tekton.event.triggers.accepted.v1");
        assert_eq!(h["ce-id"], id);
        assert_eq!(h["ce-source"], "chespirito-github-el");
        assert_eq!(
            h["ce-subject"].to_str().unwrap(),
            format!("default.chespirito-github-el accepted {id}")
        );
        assert_eq!(h["content-type"], "application/json");
    }
    // Not a CloudEvent: Tekton's plain JSON answer.
    let plain = post(&[("Content-Type", "application/json")]).await.unwrap();
    assert!(plain.headers().get("ce-type").is_none());
    assert!(plain.text().await.unwrap().ends_with('\n'));
}

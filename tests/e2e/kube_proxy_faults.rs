//! Faults between the listener and a real kube-apiserver: a proxy on loopback forwards every
//! request to the test API server (adding its credentials) and fails creates as scripted: 500,
//! 429, or forwarding the create and answering only once the client has given up and sent its
//! retry. Every accepted event must end as exactly one object in the real server; a permanent
//! failure must reach the sender as 5xx, with nothing created.
//!
//! Nothing here races a clock: creates pass the proxy one at a time and it records what each
//! got, the slow answer waits for the retry (not for a sleep to outlast the client's deadline),
//! and the tests that are not about slowness give the client a call deadline of `TIMEOUT`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use eventlistener::event_listener::{Listener, LoadOptions};
use eventlistener::resources::KubeCreator;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::support::api_server::{ApiServer, api_server, skipped};
use crate::support::{DEV_SECRET, TIMEOUT, deliver, deliver_as, fixture, repo_path};

#[derive(Debug, Clone, Copy)]
enum Fault {
    ServerError,
    TooManyRequests,
    /// Forward the create, then answer only once the next create has arrived: the client must
    /// have given up on this one.
    Slow,
}

#[derive(Clone)]
struct Proxy {
    client: kube::Client,
    script: Arc<Mutex<Vec<Fault>>>,
    /// Held by a create from its arrival until its answer is known (the API server's, for a
    /// forwarded one): creates reach the API server one at a time, in the order they came.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The status each create got, in order: a fault's, or the API server's.
    answers: Arc<Mutex<Vec<u16>>>,
    /// How many creates have arrived (taken their turn).
    arrived: watch::Sender<usize>,
    /// Creates of objects whose name starts with this prefix answer 500 while the count lasts,
    /// whatever their order of arrival (outside the script).
    failing: Arc<Mutex<Option<(String, usize)>>>,
}

fn status(code: u16, reason: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                      "message": reason, "reason": reason, "code": code});
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(body)).into_response()
}

async fn forward(proxy: &Proxy, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return status(400, "BadRequest");
    };
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut builder = axum::http::Request::builder()
        .method(parts.method)
        .uri(path);
    for name in ["content-type", "accept"] {
        if let Some(value) = parts.headers.get(name) {
            builder = builder.header(name, value);
        }
    }
    let Ok(upstream) = builder.body(kube::client::Body::from(bytes.to_vec())) else {
        return status(400, "BadRequest");
    };
    match proxy.client.send(upstream).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            (parts.status, parts.headers, bytes).into_response()
        }
        Err(e) => status(502, &format!("BadGateway: {e}")),
    }
}

async fn handle(State(proxy): State<Proxy>, request: Request) -> Response {
    let is_create =
        request.method() == Method::POST && request.uri().path().ends_with("/pipelineruns");
    if !is_create {
        return forward(&proxy, request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return status(400, "BadRequest");
    };
    let name = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|o| o["metadata"]["name"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    let turn = Arc::clone(&proxy.turn).lock_owned().await;
    let named_failure = {
        let mut failing = proxy.failing.lock().unwrap();
        match failing.as_mut() {
            Some((prefix, left)) if *left > 0 && name.starts_with(prefix.as_str()) => {
                *left -= 1;
                true
            }
            _ => false,
        }
    };
    if named_failure {
        proxy.answers.lock().unwrap().push(500);
        return status(500, "InternalError");
    }
    proxy.arrived.send_modify(|n| *n += 1);
    let number = *proxy.arrived.borrow();
    let fault = {
        let mut script = proxy.script.lock().unwrap();
        (!script.is_empty()).then(|| script.remove(0))
    };
    let answered = |response: Response| {
        proxy
            .answers
            .lock()
            .unwrap()
            .push(response.status().as_u16());
        response
    };
    match fault {
        Some(Fault::ServerError) => answered(status(500, "InternalError")),
        Some(Fault::TooManyRequests) => answered(status(429, "TooManyRequests")),
        Some(Fault::Slow) => {
            // In its own task: the client hanging up drops this handler, and must cancel neither
            // the create upstream nor the wait for the retry.
            let task = tokio::spawn(async move {
                let response = forward(&proxy, request).await;
                proxy
                    .answers
                    .lock()
                    .unwrap()
                    .push(response.status().as_u16());
                // The object is stored; the retry may now take its turn and meet it.
                drop(turn);
                let mut arrived = proxy.arrived.subscribe();
                let _ = tokio::time::timeout(TIMEOUT, arrived.wait_for(|n| *n > number)).await;
                response
            });
            task.await.unwrap_or_else(|_| status(502, "BadGateway"))
        }
        None => answered(forward(&proxy, request).await),
    }
}

/// Starts the proxy in front of `server`; its URL and the status each create got.
async fn start_proxy(server: &ApiServer, script: Vec<Fault>) -> (String, Arc<Mutex<Vec<u16>>>) {
    start_proxy_failing(server, script, None).await
}

/// [`start_proxy`], failing creates of objects named `prefix…` `count` times (`failing`).
async fn start_proxy_failing(
    server: &ApiServer,
    script: Vec<Fault>,
    failing: Option<(&str, usize)>,
) -> (String, Arc<Mutex<Vec<u16>>>) {
    let kubeconfig = kube::config::Kubeconfig::read_from(&server.kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    let proxy = Proxy {
        client: kube::Client::try_from(config).expect("client"),
        script: Arc::new(Mutex::new(script)),
        turn: Arc::default(),
        answers: Arc::default(),
        arrived: watch::Sender::new(0),
        failing: Arc::new(Mutex::new(failing.map(|(p, n)| (p.to_owned(), n)))),
    };
    let answers = Arc::clone(&proxy.answers);
    let app = axum::Router::new().fallback(handle).with_state(proxy);
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", tcp.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(tcp, app).await });
    (url, answers)
}

/// Delivers the opened fixture through a listener whose kube sink talks to the proxy, with
/// `call_timeout` as the deadline of one API call; the answer's status, the PipelineRuns in the
/// namespace, and the status each create got at the proxy, in order.
async fn deliver_via_proxy(
    test: &str,
    script: Vec<Fault>,
    call_timeout: Duration,
) -> Option<(u16, Vec<Value>, Vec<u16>)> {
    let Some(server) = api_server() else {
        skipped(test);
        return None;
    };
    let namespace = server.new_namespace("proxy-faults");
    let (proxy_url, answers) = start_proxy(server, script).await;
    let creator = KubeCreator::new(kube::Config::new(proxy_url.parse().expect("url")))
        .expect("creator")
        .with_call_timeout(call_timeout);
    let listener = Listener::load(&LoadOptions {
        paths: vec![repo_path("config")],
        listener: None,
        namespace: Some(namespace.clone()),
        require_trigger_service_account: false,
        interceptor_timeout: None,
    })
    .expect("config loads");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", tcp.local_addr().expect("addr"));
    let state = eventlistener::sink::AppState {
        max_body_bytes: 1024 * 1024,
        event_timeout: TIMEOUT,
        ..eventlistener::sink::AppState::new(
            eventlistener::event_listener::ListenerHandle::fixed(listener),
            Arc::new(creator),
        )
    };
    tokio::spawn(eventlistener::sink::serve(
        tcp,
        state,
        std::future::pending(),
    ));
    let reply = deliver(
        &url,
        "pull_request",
        &fixture("pull_request.opened"),
        Some(DEV_SECRET),
    )
    .await;
    let runs = server.pipeline_runs(&namespace);
    let answers = answers.lock().unwrap().clone();
    Some((reply.status, runs, answers))
}

#[tokio::test]
async fn errors_and_throttling_from_the_api_end_as_exactly_one_object() {
    let Some((status, runs, answers)) = deliver_via_proxy(
        "errors_and_throttling_from_the_api_end_as_exactly_one_object",
        vec![
            Fault::ServerError,
            Fault::TooManyRequests,
            Fault::ServerError,
        ],
        TIMEOUT,
    )
    .await
    else {
        return;
    };
    assert_eq!(status, 202);
    assert_eq!(answers, [500, 429, 500, 201], "each failure retried, once");
    assert_eq!(runs.len(), 1, "{runs:?}");
}

#[tokio::test]
async fn a_slow_create_that_succeeded_is_not_made_twice() {
    // The proxy answers the slow create only after the retry, so the client gives up on it
    // whatever this is; it only needs to be long enough for the retries (a 409, then a get) to be
    // answered on a busy machine.
    let call_timeout = Duration::from_secs(2);
    let Some((status, runs, answers)) = deliver_via_proxy(
        "a_slow_create_that_succeeded_is_not_made_twice",
        vec![Fault::Slow],
        call_timeout,
    )
    .await
    else {
        return;
    };
    assert_eq!(status, 202);
    // The retry met the object the slow create had stored (more than one 409 when the API
    // server was slower than `call_timeout` for the retry too).
    assert!(
        answers.len() >= 2 && answers[0] == 201 && answers[1..].iter().all(|&a| a == 409),
        "{answers:?}"
    );
    assert_eq!(runs.len(), 1, "{runs:?}");
}

#[tokio::test]
async fn a_permanent_failure_answers_5xx_and_creates_nothing() {
    let Some((status, runs, answers)) = deliver_via_proxy(
        "a_permanent_failure_answers_5xx_and_creates_nothing",
        vec![Fault::ServerError; 10],
        TIMEOUT,
    )
    .await
    else {
        return;
    };
    assert_eq!(status, 503);
    assert_eq!(answers, [500; 6], "every attempt (MAX_ATTEMPTS) failed");
    assert!(runs.is_empty(), "{runs:?}");
}

/// Two triggers without interceptors, each creating one PipelineRun.
const TWO_TRIGGERS: &str = r#"
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: twins
spec:
  triggers:
    - name: first
      template:
        spec:
          resourcetemplates:
            - apiVersion: tekton.dev/v1
              kind: PipelineRun
              metadata:
                generateName: first-
              spec:
                pipelineRef:
                  name: one
    - name: second
      template:
        spec:
          resourcetemplates:
            - apiVersion: tekton.dev/v1
              kind: PipelineRun
              metadata:
                generateName: second-
              spec:
                pipelineRef:
                  name: two
"#;

#[tokio::test]
async fn a_redelivery_after_partial_success_creates_only_what_failed() {
    let Some(server) = api_server() else {
        return skipped("a_redelivery_after_partial_success_creates_only_what_failed");
    };
    let namespace = server.new_namespace("partial");
    // Every attempt of the first delivery to create the second trigger's run fails (the creator
    // makes 6); the first trigger's succeeds.
    let (proxy_url, answers) = start_proxy_failing(server, Vec::new(), Some(("second-", 6))).await;
    let creator = KubeCreator::new(kube::Config::new(proxy_url.parse().expect("url")))
        .expect("creator")
        .with_call_timeout(TIMEOUT);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("el.yaml"), TWO_TRIGGERS).expect("write");
    let listener = Listener::load(&LoadOptions {
        paths: vec![dir.path().to_owned()],
        listener: None,
        namespace: Some(namespace.clone()),
        require_trigger_service_account: false,
        interceptor_timeout: None,
    })
    .expect("config loads");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", tcp.local_addr().expect("addr"));
    let state = eventlistener::sink::AppState {
        event_timeout: TIMEOUT,
        ..eventlistener::sink::AppState::new(
            eventlistener::event_listener::ListenerHandle::fixed(listener),
            Arc::new(creator),
        )
    };
    tokio::spawn(eventlistener::sink::serve(
        tcp,
        state,
        std::future::pending(),
    ));
    let body = br#"{"action":"opened"}"#;
    let first = deliver_as(&url, "push", body, None, Some("partial-delivery")).await;
    assert_eq!(first.status, 503, "{}", first.body);
    let again = deliver_as(&url, "push", body, None, Some("partial-delivery")).await;
    assert_eq!(again.status, 202, "{}", again.body);
    let mut names: Vec<String> = server
        .pipeline_runs(&namespace)
        .iter()
        .map(|r| {
            r["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "one run per trigger: {names:?}");
    assert!(
        names[0].starts_with("first-") && names[1].starts_with("second-"),
        "{names:?}"
    );
    // first delivery: first's 201 and second's six 500s; the redelivery: first's 409 (its own
    // object, a duplicate) and second's 201.
    let mut answers = answers.lock().unwrap().clone();
    answers.sort_unstable();
    assert_eq!(answers, [201, 201, 409, 500, 500, 500, 500, 500, 500]);
}

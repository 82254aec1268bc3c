//! Faults between the listener and a real kube-apiserver: a proxy on loopback forwards every
//! request to the test API server (adding its credentials) and fails creates as scripted: 500,
//! 429, or forwarding the create and answering only after the client has given up. Every
//! accepted event must end as exactly one object in the real server; a permanent failure must
//! reach the sender as 5xx, with nothing created.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use eventlistener::listener::{Listener, LoadOptions};
use eventlistener::resources::KubeCreator;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

use crate::support::api_server::{ApiServer, api_server, skipped};
use crate::support::{DEV_SECRET, TIMEOUT, deliver, fixture, repo_path};

#[derive(Debug, Clone, Copy)]
enum Fault {
    ServerError,
    TooManyRequests,
    /// Forward the create, then answer after the client's deadline.
    Slow,
}

#[derive(Clone)]
struct Proxy {
    client: kube::Client,
    script: Arc<Mutex<Vec<Fault>>>,
    creates: Arc<Mutex<usize>>,
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
    let fault = {
        let mut creates = proxy.creates.lock().unwrap();
        *creates += 1;
        let mut script = proxy.script.lock().unwrap();
        (!script.is_empty()).then(|| script.remove(0))
    };
    match fault {
        Some(Fault::ServerError) => status(500, "InternalError"),
        Some(Fault::TooManyRequests) => status(429, "TooManyRequests"),
        Some(Fault::Slow) => {
            // The create reaches the API server whatever the client does; only the answer is
            // late (a client hanging up must not cancel the request upstream).
            let forwarded = tokio::spawn(async move { forward(&proxy, request).await });
            tokio::time::sleep(Duration::from_secs(2)).await;
            forwarded
                .await
                .unwrap_or_else(|_| status(502, "BadGateway"))
        }
        None => forward(&proxy, request).await,
    }
}

/// Starts the proxy in front of `server`; its URL and create counter.
async fn start_proxy(server: &ApiServer, script: Vec<Fault>) -> (String, Arc<Mutex<usize>>) {
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
        creates: Arc::new(Mutex::new(0)),
    };
    let creates = Arc::clone(&proxy.creates);
    let app = axum::Router::new().fallback(handle).with_state(proxy);
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", tcp.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(tcp, app).await });
    (url, creates)
}

/// Delivers the opened fixture through a listener whose kube sink talks to the proxy; the
/// answer's status, the PipelineRuns in the namespace, and the creates the proxy saw.
async fn deliver_via_proxy(test: &str, script: Vec<Fault>) -> Option<(u16, Vec<Value>, usize)> {
    let Some(server) = api_server() else {
        skipped(test);
        return None;
    };
    let namespace = server.new_namespace("proxy-faults");
    let (proxy_url, creates) = start_proxy(server, script).await;
    let creator = KubeCreator::new(kube::Config::new(proxy_url.parse().expect("url")))
        .expect("creator")
        .with_call_timeout(Duration::from_millis(800));
    let listener = Listener::load(&LoadOptions {
        paths: vec![repo_path("config")],
        listener: None,
        namespace: Some(namespace.clone()),
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
            eventlistener::listener::ListenerHandle::fixed(listener),
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
    let list: Value = serde_json::from_str(&server.kubectl_ok(&[
        "get",
        "pipelineruns.tekton.dev",
        "-n",
        &namespace,
        "-o",
        "json",
    ]))
    .expect("kubectl JSON");
    let runs = list["items"].as_array().cloned().unwrap_or_default();
    let creates = *creates.lock().unwrap();
    Some((reply.status, runs, creates))
}

#[tokio::test]
async fn errors_and_throttling_from_the_api_end_as_exactly_one_object() {
    let Some((status, runs, creates)) = deliver_via_proxy(
        "errors_and_throttling_from_the_api_end_as_exactly_one_object",
        vec![
            Fault::ServerError,
            Fault::TooManyRequests,
            Fault::ServerError,
        ],
    )
    .await
    else {
        return;
    };
    assert_eq!(status, 202);
    assert_eq!(creates, 4);
    assert_eq!(runs.len(), 1, "{runs:?}");
}

#[tokio::test]
async fn a_slow_create_that_succeeded_is_not_made_twice() {
    let Some((status, runs, creates)) = deliver_via_proxy(
        "a_slow_create_that_succeeded_is_not_made_twice",
        vec![Fault::Slow],
    )
    .await
    else {
        return;
    };
    assert_eq!(status, 202);
    assert!(creates >= 2, "the client retried");
    assert_eq!(runs.len(), 1, "{runs:?}");
}

#[tokio::test]
async fn a_permanent_failure_answers_5xx_and_creates_nothing() {
    let Some((status, runs, creates)) = deliver_via_proxy(
        "a_permanent_failure_answers_5xx_and_creates_nothing",
        vec![Fault::ServerError; 10],
    )
    .await
    else {
        return;
    };
    assert_eq!(status, 503);
    assert_eq!(creates, 6);
    assert!(runs.is_empty(), "{runs:?}");
}

//! The kube sink's retries, against a fake API server on loopback that fails creates the way a
//! real one under stress does (500, 429, answers slower than the client waits). Every accepted
//! event must end as exactly one object; a permanent failure must reach the sender as 5xx.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use eventlistener::resources::KubeCreator;
use serde_json::{Value, json};

use crate::support::{DEV_SECRET, TIMEOUT, deliver, fixture, repo_path, start_with};

/// How the fake answers each create, in order; after the script, creates succeed.
#[derive(Debug, Clone, Copy)]
enum Answer {
    ServerError,
    TooManyRequests,
    Forbidden,
    /// Store the object, then answer only after the client has given up.
    StoreThenHang,
}

#[derive(Default)]
struct Fake {
    script: Vec<Answer>,
    creates: usize,
    stored: Vec<Value>,
}

type Shared = Arc<Mutex<Fake>>;

async fn resources() -> Json<Value> {
    Json(json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "tekton.dev/v1",
        "resources": [{"name": "pipelineruns", "singularName": "pipelinerun", "namespaced": true,
                       "kind": "PipelineRun", "verbs": ["create", "get", "list"]}]
    }))
}

fn status(code: u16, reason: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                      "message": reason, "reason": reason, "code": code});
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(body),
    )
        .into_response()
}

async fn create(
    State(fake): State<Shared>,
    Path(_ns): Path<String>,
    Json(object): Json<Value>,
) -> Response {
    let (answer, exists) = {
        let mut f = fake.lock().unwrap();
        let answer = f.script.get(f.creates).copied();
        f.creates += 1;
        let name = object["metadata"]["name"].clone();
        let exists = f.stored.iter().any(|o| o["metadata"]["name"] == name);
        (answer, exists)
    };
    if exists {
        return status(409, "AlreadyExists");
    }
    match answer {
        Some(Answer::ServerError) => status(500, "InternalError"),
        Some(Answer::TooManyRequests) => status(429, "TooManyRequests"),
        Some(Answer::Forbidden) => status(403, "Forbidden"),
        Some(Answer::StoreThenHang) => {
            fake.lock().unwrap().stored.push(object);
            tokio::time::sleep(Duration::from_secs(2)).await;
            status(504, "Timeout")
        }
        None => {
            fake.lock().unwrap().stored.push(object.clone());
            (StatusCode::CREATED, Json(object)).into_response()
        }
    }
}

async fn read(State(fake): State<Shared>, Path((_ns, name)): Path<(String, String)>) -> Response {
    let f = fake.lock().unwrap();
    match f
        .stored
        .iter()
        .find(|o| o["metadata"]["name"] == name.as_str())
    {
        Some(o) => Json(o.clone()).into_response(),
        None => status(404, "NotFound"),
    }
}

/// Starts the fake; its URL and state.
async fn fake_api(script: Vec<Answer>) -> (String, Shared) {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        script,
        ..Fake::default()
    }));
    let app = axum::Router::new()
        .route("/apis/tekton.dev/v1", get(resources))
        .route(
            "/apis/tekton.dev/v1/namespaces/{ns}/pipelineruns",
            post(create),
        )
        .route(
            "/apis/tekton.dev/v1/namespaces/{ns}/pipelineruns/{name}",
            get(read),
        )
        .with_state(Arc::clone(&fake));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", tcp.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(tcp, app).await });
    (url, fake)
}

async fn deliver_through(script: Vec<Answer>) -> (u16, Shared) {
    let (url, fake) = fake_api(script).await;
    let config = kube::Config::new(url.parse().unwrap());
    let creator = KubeCreator::new(config)
        .unwrap()
        .with_call_timeout(Duration::from_millis(300));
    let listener = start_with(&[repo_path("config")], Some(Arc::new(creator)), TIMEOUT).await;
    let reply = deliver(
        &listener.url,
        "pull_request",
        &fixture("pull_request.opened"),
        Some(DEV_SECRET),
    )
    .await;
    (reply.status, fake)
}

#[tokio::test]
async fn server_errors_and_throttling_are_retried_into_exactly_one_object() {
    let (status, fake) = deliver_through(vec![
        Answer::ServerError,
        Answer::TooManyRequests,
        Answer::ServerError,
    ])
    .await;
    assert_eq!(status, 202);
    let f = fake.lock().unwrap();
    assert_eq!(f.creates, 4);
    assert_eq!(f.stored.len(), 1);
    assert_eq!(
        f.stored[0]["spec"]["pipelineRef"]["name"],
        "chespirito-staging-pipeline"
    );
}

#[tokio::test]
async fn a_create_that_times_out_after_storing_is_not_made_twice() {
    let (status, fake) = deliver_through(vec![Answer::StoreThenHang]).await;
    assert_eq!(status, 202);
    let f = fake.lock().unwrap();
    assert_eq!(f.stored.len(), 1, "the retry found its own object");
    assert!(f.creates >= 2);
}

#[tokio::test]
async fn forbidden_is_not_retried_and_answers_500() {
    let (status, fake) = deliver_through(vec![Answer::Forbidden]).await;
    assert_eq!(status, 500);
    let f = fake.lock().unwrap();
    assert_eq!(f.creates, 1);
    assert!(f.stored.is_empty());
}

#[tokio::test]
async fn a_server_that_keeps_failing_answers_503_after_bounded_retries() {
    let (status, fake) = deliver_through(vec![Answer::ServerError; 10]).await;
    assert_eq!(status, 503);
    let f = fake.lock().unwrap();
    assert_eq!(f.creates, 6, "six attempts, then give up");
    assert!(f.stored.is_empty());
}

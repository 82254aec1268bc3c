//! What the sender is told when something fails that no other test covers: a Secret that cannot
//! be read at event time, a trigger that panics, a configuration with an interceptor this build
//! does not have.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::response::IntoResponse as _;
use eventlistener::event_listener::{Listener, ListenerHandle, LoadOptions};
use eventlistener::resources::{BoxFuture, Created, Creator, DirCreator, Error, Resource};
use eventlistener::secrets::{self, SecretStore, SecretValue};
use eventlistener::sink::{AppState, serve};

use crate::support::{DEV_SECRET, TIMEOUT, deliver, fixture, repo_path, run_binary};

/// The development secret, until `unavailable` is set: then every read fails as an API outage
/// would.
#[derive(Debug, Default)]
struct Flaky {
    unavailable: AtomicBool,
}

impl SecretStore for Flaky {
    fn get(&self, namespace: &str, name: &str, _key: &str) -> Result<SecretValue, secrets::Error> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(secrets::Error::Unavailable {
                namespace: namespace.into(),
                name: name.into(),
                message: "injected: API server unreachable".into(),
            });
        }
        Ok(SecretValue::new(DEV_SECRET))
    }
}

async fn serve_listener(listener: Listener, creator: Arc<dyn Creator>) -> String {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", tcp.local_addr().expect("addr"));
    let state = AppState {
        event_timeout: TIMEOUT,
        ..AppState::new(ListenerHandle::fixed(listener), creator)
    };
    tokio::spawn(serve(tcp, state, std::future::pending()));
    url
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_is_503_and_creates_nothing() {
    let store = Arc::new(Flaky::default());
    let catalog = eventlistener::manifest::load(&[repo_path("config")]).expect("manifests");
    let listener = Listener::from_catalog_with_secrets(
        &catalog,
        &LoadOptions {
            listener: Some("chespirito-github-el".into()),
            ..LoadOptions::default()
        },
        Arc::clone(&store) as Arc<dyn SecretStore>,
    )
    .expect("config loads");
    let out = tempfile::tempdir().expect("tempdir");
    let url = serve_listener(
        listener,
        Arc::new(DirCreator::new(out.path()).expect("dir")),
    )
    .await;
    store.unavailable.store(true, Ordering::SeqCst);
    let body = fixture("pull_request.opened");
    let reply = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body["eventID"].is_string());
    assert_eq!(std::fs::read_dir(out.path()).expect("out").count(), 0);
    // The same event once the Secret is back: created.
    store.unavailable.store(false, Ordering::SeqCst);
    let reply = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(std::fs::read_dir(out.path()).expect("out").count(), 1);
}

/// A creator with a bug: it panics.
#[derive(Debug)]
struct Panics;

impl Creator for Panics {
    fn create(&self, _resource: Resource) -> BoxFuture<'_, Result<Created, Error>> {
        Box::pin(async { panic!("injected bug in a creator") })
    }
}

#[tokio::test]
async fn a_trigger_that_panics_is_500_and_the_server_keeps_serving() {
    let listener = Listener::load(&LoadOptions {
        paths: vec![repo_path("config")],
        ..LoadOptions::default()
    })
    .expect("config loads");
    let url = serve_listener(listener, Arc::new(Panics)).await;
    let body = fixture("pull_request.opened");
    for _ in 0..2 {
        let reply = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
        assert_eq!(reply.status, 500, "{}", reply.body);
        assert!(reply.body["eventID"].is_string());
        let failed = reply.body["triggers"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["name"] == "pr-trigger"))
            .expect("pr-trigger listed");
        assert_eq!(failed["outcome"], "failed");
        assert!(
            failed["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("internal error")),
            "{failed}"
        );
    }
}

#[tokio::test]
async fn an_unsupported_interceptor_fails_start_up_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("el.yaml");
    std::fs::write(
        &config,
        "apiVersion: triggers.tekton.dev/v1beta1\nkind: EventListener\nmetadata:\n  name: el\nspec:\n  triggers:\n    - name: t\n      interceptors:\n        - ref:\n            name: no-such-interceptor\n      template:\n        spec:\n          resourcetemplates:\n            - apiVersion: v1\n              kind: ConfigMap\n              metadata:\n                generateName: x-\n",
    )
    .expect("write");
    let path = config.to_str().expect("utf-8 path");
    let output = run_binary(&["serve", "--address", "127.0.0.1:0", "-f", path]).await;
    assert_ne!(output.code, Some(0));
    let stderr = output.stderr;
    assert!(
        stderr.contains("interceptor \"no-such-interceptor\" is not supported"),
        "{stderr}"
    );
}

/// A fake Kubernetes API serving the development webhook Secret until `down` is set; then every
/// request answers 503, as an API server that is away.
async fn fake_secret_api(down: Arc<AtomicBool>) -> kube::Client {
    use axum::http::StatusCode;
    use base64::Engine as _;
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let down = Arc::clone(&down);
        async move {
            let status = |code: u16, reason: &str| {
                axum::Json(serde_json::json!({"kind": "Status", "apiVersion": "v1",
                    "status": "Failure", "reason": reason, "message": reason, "code": code}))
            };
            if down.load(Ordering::SeqCst) {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    status(503, "ServiceUnavailable"),
                )
                    .into_response();
            }
            if uri.path() == "/api/v1/namespaces/default/secrets/github-webhook-secret" {
                let token = base64::engine::general_purpose::STANDARD.encode(DEV_SECRET);
                return axum::Json(serde_json::json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "github-webhook-secret", "namespace": "default"},
                    "data": {"secretToken": token}
                }))
                .into_response();
            }
            (StatusCode::NOT_FOUND, status(404, "NotFound")).into_response()
        }
    });
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", tcp.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(tcp, app).await });
    kube::Client::try_from(kube::Config::new(url.parse().expect("url"))).expect("client")
}

/// `config/` served with its Secrets read from `client` on every event (no cache lifetime).
async fn serve_with_cluster_secrets(client: kube::Client) -> (String, tempfile::TempDir) {
    let catalog = eventlistener::manifest::load(&[repo_path("config")]).expect("manifests");
    let secrets = eventlistener::secrets::KubeSecrets::with_ttl(client, std::time::Duration::ZERO);
    let listener = Listener::from_catalog_with_secrets(
        &catalog,
        &LoadOptions {
            listener: Some("chespirito-github-el".into()),
            ..LoadOptions::default()
        },
        Arc::new(secrets),
    )
    .expect("config loads");
    let out = tempfile::tempdir().expect("tempdir");
    let url = serve_listener(
        listener,
        Arc::new(DirCreator::new(out.path()).expect("dir")),
    )
    .await;
    (url, out)
}

#[tokio::test]
async fn during_an_api_outage_signatures_are_checked_against_the_secret_read_before() {
    let down = Arc::new(AtomicBool::new(false));
    let (url, out) = serve_with_cluster_secrets(fake_secret_api(Arc::clone(&down)).await).await;
    let body = fixture("pull_request.opened");
    let reply = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    down.store(true, Ordering::SeqCst);
    let forged = deliver(&url, "pull_request", &body, Some("not-the-secret")).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let signed = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(signed.status, 202, "{}", signed.body);
    assert_eq!(std::fs::read_dir(out.path()).expect("out").count(), 2);
}

#[tokio::test]
async fn a_secret_never_read_during_an_api_outage_is_503_naming_it() {
    let down = Arc::new(AtomicBool::new(true));
    let (url, out) = serve_with_cluster_secrets(fake_secret_api(down).await).await;
    let body = fixture("pull_request.opened");
    let reply = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(
        reply.body["errorMessage"],
        "could not read Secret default/github-webhook-secret; retry the delivery"
    );
    assert_eq!(std::fs::read_dir(out.path()).expect("out").count(), 0);
}

//! Interceptors over HTTP (issue 15, item 3; reference §1.8, §3.1–§3.5): a custom interceptor
//! server in the test records the exact request each ClusterInterceptor, Interceptor and legacy
//! `webhook:` call sends and answers every shape upstream knows: continue with extensions,
//! continue:false with a status, non-200, not JSON, never (the deadline), and over TLS with a
//! private CA generated here.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse as _;
use eventlistener::event_listener::{Listener, LoadOptions};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::kube_cluster::{follow_listener, serving};
use crate::support::api_server::{api_server, skipped};
use crate::support::{DEV_SECRET, Reply, Running, TIMEOUT, deliver, start_listener};

/// One request the interceptor server got.
#[derive(Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request is JSON")
    }

    fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }
}

/// A custom interceptor on 127.0.0.1 answering by path (`/continue`, `/stop`, `/deny`,
/// `/broken`, `/garbage`, `/slow`, `/legacy`), over TLS when given a certificate and key.
struct InterceptorServer {
    base: String,
    got: mpsc::UnboundedReceiver<Received>,
}

impl InterceptorServer {
    async fn next(&mut self) -> Received {
        tokio::time::timeout(TIMEOUT, self.got.recv())
            .await
            .expect("the interceptor was called in time")
            .expect("server running")
    }

    fn nothing_more(&mut self) {
        assert!(self.got.try_recv().is_err(), "no other call");
    }
}

async fn answer(path: &str, body: &Bytes) -> axum::response::Response {
    let ok_json = |v: Value| {
        (
            StatusCode::OK,
            [("Content-Type", "application/json")],
            v.to_string(),
        )
            .into_response()
    };
    match path {
        "/continue" => ok_json(json!({
            "continue": true,
            "extensions": {"reviewer": "florinda", "nested": {"n": 1}}
        })),
        "/stop" => ok_json(json!({
            "continue": false,
            "status": {"code": "FAILED_PRECONDITION", "message": "not this branch"}
        })),
        "/deny" => ok_json(json!({
            "continue": false,
            "status": {"code": 16, "message": "who are you"}
        })),
        "/broken" => (StatusCode::INTERNAL_SERVER_ERROR, "broken on purpose").into_response(),
        "/garbage" => (StatusCode::OK, "<html>not json").into_response(),
        "/slow" => std::future::pending().await,
        "/legacy" => {
            let received: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            (
                StatusCode::OK,
                [("Content-Type", "application/json"), ("X-Rewritten", "yes")],
                json!({"rewritten": true, "seen": received}).to_string(),
            )
                .into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn interceptor_server(tls: Option<rustls::ServerConfig>) -> InterceptorServer {
    let (send, got) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let send = send.clone();
        async move {
            let path = uri.path().to_owned();
            // Recorded before answering: `/slow` never answers.
            let _ = send.send(Received {
                path: path.clone(),
                headers,
                body: body.clone(),
            });
            answer(&path, &body).await
        }
    });
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    match tls {
        None => {
            tokio::spawn(async move { axum::serve(tcp, app).await });
        }
        Some(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = tcp.accept().await else {
                        return;
                    };
                    let acceptor = acceptor.clone();
                    let app = app.clone();
                    tokio::spawn(async move {
                        // A client that refuses the certificate ends the handshake: fine here.
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let service = hyper_util::service::TowerToHyperService::new(app);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        }
    }
    InterceptorServer {
        base: format!("{scheme}://{addr}"),
        got,
    }
}

/// The start of most chains here: the github check (so answers list each trigger's outcome)
/// and a cel overlay (so the chain has extensions to send).
const CHECKS: &str = r#"        - ref: {name: github}
          params:
            - name: secretRef
              value: {secretName: github-secret, secretKey: token}
        - ref: {name: cel}
          params:
            - name: overlays
              value: [{key: from_cel, expression: "body.action + '!'"}]
"#;

/// The manifests: the dev Secret, `extra` objects, and an EventListener in namespace `ci` whose
/// one trigger `t` runs [`CHECKS`] then `interceptors`; its PipelineRun carries what the
/// bindings read after the chain.
fn manifests(extra: &str, interceptors: &str) -> String {
    chain(extra, &format!("{CHECKS}{interceptors}"), "$(body.action)")
}

/// The manifests of [`manifests`] with the whole chain given, and the `action` param bound to
/// `action`.
fn chain(extra: &str, interceptors: &str, action: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata: {{name: github-secret, namespace: ci}}
stringData: {{token: {DEV_SECRET}}}
---
{extra}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {{name: el, namespace: ci}}
spec:
  triggers:
    - name: t
      interceptors:
{interceptors}
      bindings:
        - {{name: reviewer, value: "$(extensions.reviewer)"}}
        - {{name: nested, value: "$(extensions.nested)"}}
        - {{name: action, value: "{action}"}}
      template:
        spec:
          params: [{{name: reviewer, default: none}}, {{name: nested, default: none}}, {{name: action}}]
          resourcetemplates:
            - apiVersion: tekton.dev/v1
              kind: PipelineRun
              metadata: {{generateName: run-}}
              spec:
                params:
                  - {{name: reviewer, value: "$(tt.params.reviewer)"}}
                  - {{name: nested, value: "$(tt.params.nested)"}}
                  - {{name: action, value: "$(tt.params.action)"}}
"#
    )
}

fn cluster_interceptor(name: &str, client_config: &str) -> String {
    format!(
        "apiVersion: triggers.tekton.dev/v1alpha1\nkind: ClusterInterceptor\nmetadata: {{name: {name}}}\nspec:\n  clientConfig: {client_config}\n"
    )
}

/// Writes `text` to a fresh directory and loads it (`interceptor_timeout` as `serve
/// --interceptor-timeout` gives it).
fn load(text: &str, interceptor_timeout: Option<Duration>) -> Result<Listener, String> {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("config.yaml");
    std::fs::write(&path, text).unwrap();
    Listener::load(&LoadOptions {
        paths: vec![path],
        interceptor_timeout,
        ..LoadOptions::default()
    })
    .map_err(|e| e.to_string())
}

async fn serve(text: &str, interceptor_timeout: Option<Duration>) -> Running {
    let listener = load(text, interceptor_timeout).expect("config loads");
    start_listener(listener, None, |state| state).await
}

/// A `pull_request` event with the given JSON text, signed, at `path` (with its query).
async fn send(running: &Running, path: &str, body: &str) -> Reply {
    deliver(
        &format!("{}{path}", running.url),
        "pull_request",
        body.as_bytes(),
        Some(DEV_SECRET),
    )
    .await
}

/// The one trigger's reported reason (`triggers[0].reason`).
fn reason(reply: &Reply) -> &str {
    reply.body["triggers"][0]["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("a reason in {}", reply.body))
}

/// The created PipelineRun's params, by name.
fn run_params(running: &Running) -> Value {
    let created = running.created();
    assert_eq!(created.len(), 1, "{created:?}");
    created[0]["spec"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["value"].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

const BODY: &str = "{\"action\":  \"opened\", \"html\": \"<b>&amp;</b>\",\n \"n\": 1.50}";

#[tokio::test]
async fn a_cluster_interceptor_gets_upstreams_request_and_its_extensions_reach_the_bindings() {
    let mut server = interceptor_server(None).await;
    let config = manifests(
        &cluster_interceptor("custom", &format!("{{url: \"{}/continue\"}}", server.base)),
        r#"        - ref: {name: custom, kind: ClusterInterceptor}
          params:
            - {name: mode, value: {strict: [1, "two"]}}
            - {name: mode, value: last-wins}
            - {name: other, value: true}"#,
    );
    let running = serve(&config, None).await;
    let reply = send(&running, "hooks/pr?src=gh&x=%20", BODY).await;
    assert_eq!(reply.status, 202, "{}", reply.body);

    let call = server.next().await;
    server.nothing_more();
    assert_eq!(call.path, "/continue");
    assert_eq!(call.header("content-type"), ["application/json"]);
    let request = call.json();
    assert_eq!(
        request["body"], BODY,
        "the body is the received bytes as a string"
    );
    let header = &request["header"];
    assert_eq!(header["X-Github-Event"], json!(["pull_request"]));
    assert_eq!(header["Content-Type"], json!(["application/json"]));
    assert!(
        header["X-Hub-Signature-256"][0]
            .as_str()
            .unwrap()
            .starts_with("sha256="),
        "{header}"
    );
    assert_eq!(request["extensions"], json!({"from_cel": "opened!"}));
    assert_eq!(
        request["interceptor_params"],
        json!({"mode": "last-wins", "other": true})
    );
    assert_eq!(
        request["context"],
        json!({
            "event_url": "/hooks/pr?src=gh&x=%20",
            "event_id": reply.body["eventID"],
            "trigger_id": "namespaces/ci/triggers/t",
        })
    );
    // Go writes the struct's fields in this order.
    let text = std::str::from_utf8(&call.body).unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
    assert!(
        at("body") < at("header")
            && at("header") < at("extensions")
            && at("extensions") < at("interceptor_params")
            && at("interceptor_params") < at("context"),
        "{text}"
    );

    let params = run_params(&running);
    assert_eq!(params["reviewer"], "florinda");
    assert_eq!(params["nested"], "{\"n\":1}");
    assert_eq!(params["action"], "opened");
}

#[tokio::test]
async fn continue_false_stops_the_trigger_with_the_interceptors_status() {
    let mut server = interceptor_server(None).await;
    let extra = format!(
        "{}---\n{}",
        cluster_interceptor("stopper", &format!("{{url: \"{}/stop\"}}", server.base)),
        cluster_interceptor("denier", &format!("{{url: \"{}/deny\"}}", server.base)),
    );
    let filtered = serve(&manifests(&extra, "        - ref: {name: stopper}"), None).await;
    let reply = send(&filtered, "", BODY).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["triggers"][0]["outcome"], "filtered");
    assert_eq!(reason(&reply), "interceptor stopper: not this branch");
    assert!(filtered.created().is_empty());
    assert_eq!(server.next().await.path, "/stop");

    let denied = serve(&manifests(&extra, "        - ref: {name: denier}"), None).await;
    let reply = send(&denied, "", BODY).await;
    assert_eq!(
        (reply.status, &reply.body["errorMessage"]),
        (403, &json!("who are you")),
        "UNAUTHENTICATED (16) is told as 403: {}",
        reply.body
    );
    assert!(denied.created().is_empty());
    assert_eq!(server.next().await.path, "/deny");
}

#[tokio::test]
async fn an_interceptor_that_fails_to_answer_fails_the_trigger() {
    let mut server = interceptor_server(None).await;
    let unreachable = {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        drop(tcp);
        format!("http://{addr}/gone")
    };
    let cases = [
        (
            format!("{}/broken", server.base),
            "interceptor response was not 200: broken on purpose".to_owned(),
        ),
        (
            format!("{}/garbage", server.base),
            "invalid interceptor response: expected value at line 1 column 1".to_owned(),
        ),
        (
            format!("{}/slow", server.base),
            format!("Post \"{}/slow\": no answer within 300ms", server.base),
        ),
        (unreachable.clone(), format!("Post \"{unreachable}\": ")),
    ];
    for (url, expected) in cases {
        let config = manifests(
            &cluster_interceptor("custom", &format!("{{url: \"{url}\"}}")),
            "        - ref: {name: custom}",
        );
        let running = serve(&config, Some(Duration::from_millis(300))).await;
        let reply = send(&running, "", BODY).await;
        assert_eq!(reply.status, 503, "{url}: {}", reply.body);
        assert_eq!(reply.body["triggers"][0]["outcome"], "failed", "{url}");
        let reason = reason(&reply);
        assert!(
            reason.starts_with(&format!("interceptor custom failed: {expected}")),
            "{url}: {reason}"
        );
        assert!(running.created().is_empty(), "{url}");
        if url != unreachable {
            assert_eq!(
                server.next().await.path,
                url.trim_start_matches(&server.base)
            );
        }
    }
}

/// A CA and a certificate it signed for 127.0.0.1: (CA PEM, server config).
fn private_ca() -> (String, rustls::ServerConfig) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "e2e interceptor CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .unwrap();
    (ca.pem(), config)
}

#[tokio::test]
async fn tls_interceptors_are_trusted_through_their_ca_bundle_only() {
    use base64::Engine as _;
    let (ca_pem, tls) = private_ca();
    let mut server = interceptor_server(Some(tls)).await;
    let url = format!("{}/continue", server.base);
    let bundle = base64::engine::general_purpose::STANDARD.encode(&ca_pem);
    let trusted = serve(
        &manifests(
            &cluster_interceptor("custom", &format!("{{url: \"{url}\", caBundle: {bundle}}}")),
            "        - ref: {name: custom}",
        ),
        None,
    )
    .await;
    let reply = send(&trusted, "", BODY).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(run_params(&trusted)["reviewer"], "florinda");
    assert_eq!(server.next().await.path, "/continue");

    // Without the bundle the private CA is not trusted: the handshake fails, nothing is sent.
    let untrusted = serve(
        &manifests(
            &cluster_interceptor("custom", &format!("{{url: \"{url}\"}}")),
            "        - ref: {name: custom}",
        ),
        None,
    )
    .await;
    let reply = send(&untrusted, "", BODY).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let reason = reason(&reply);
    assert!(
        reason.starts_with(&format!("interceptor custom failed: Post \"{url}\": "))
            && reason.contains("certificate"),
        "{reason}"
    );
    assert!(untrusted.created().is_empty());
    server.nothing_more();

    // A bundle that is not PEM is refused at load.
    let error = load(
        &manifests(
            &cluster_interceptor(
                "custom",
                &format!("{{url: \"{url}\", caBundle: bm90IHBlbQ==}}"),
            ),
            "        - ref: {name: custom}",
        ),
        None,
    )
    .unwrap_err();
    assert!(
        error.contains("interceptors[2]: interceptor custom: caBundle: invalid CA bundle"),
        "{error}"
    );
}

#[tokio::test]
async fn namespaced_interceptors_are_found_in_the_event_listeners_namespace() {
    let mut server = interceptor_server(None).await;
    let base = server.base.clone();
    let interceptor = |namespace: &str| {
        format!(
            "apiVersion: triggers.tekton.dev/v1alpha1\nkind: Interceptor\nmetadata: {{name: mine, namespace: {namespace}}}\nspec:\n  clientConfig: {{url: \"{base}/continue\"}}\n"
        )
    };
    let reference = "        - ref: {name: mine, kind: NamespacedInterceptor}";
    let running = serve(&manifests(&interceptor("ci"), reference), None).await;
    let reply = send(&running, "", BODY).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(run_params(&running)["reviewer"], "florinda");
    assert_eq!(server.next().await.path, "/continue");

    let error = load(&manifests(&interceptor("elsewhere"), reference), None).unwrap_err();
    assert!(
        error.contains(
            "interceptors[2]: url resolution failed for interceptor mine with: Interceptor ci/mine not found"
        ),
        "{error}"
    );
    let unknown = load(&manifests("", "        - ref: {name: nowhere}"), None).unwrap_err();
    assert!(
        unknown.contains("interceptors[2]: interceptor \"nowhere\" is not supported: not built in"),
        "{unknown}"
    );
    let bad_kind = load(
        &manifests("", "        - ref: {name: mine, kind: Interceptor}"),
        None,
    )
    .unwrap_err();
    assert!(
        bad_kind.contains("interceptors[2].ref.kind: \"Interceptor\" is not a kind of interceptor"),
        "{bad_kind}"
    );
}

#[tokio::test]
async fn a_built_in_name_defined_as_a_cluster_interceptor_is_called_over_http() {
    let mut server = interceptor_server(None).await;
    // `cel` has an address here: the object wins over the in-process cel (whose params this
    // trigger would not pass: no filter, no overlays).
    let config = manifests(
        &cluster_interceptor("cel", &format!("{{url: \"{}/continue\"}}", server.base)),
        "",
    );
    let running = serve(&config, None).await;
    let reply = send(&running, "", BODY).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let call = server.next().await;
    assert_eq!(
        call.json()["interceptor_params"],
        json!({"overlays": [{"key": "from_cel", "expression": "body.action + '!'"}]})
    );
    assert_eq!(run_params(&running)["reviewer"], "florinda");
    // A ClusterInterceptor without an address named as a built-in stays in-process, and so do
    // upstream's shipped core ClusterInterceptors (a cluster with Tekton Triggers has them).
    let shipped = "{service: {name: tekton-triggers-core-interceptors, namespace: tekton-pipelines, path: cel, port: 8443}, caBundle: bm90IHBlbQ==}";
    for client_config in ["{}", shipped] {
        let in_process = serve(
            &manifests(&cluster_interceptor("cel", client_config), ""),
            None,
        )
        .await;
        let reply = send(&in_process, "", BODY).await;
        assert_eq!(reply.status, 202, "{client_config}: {}", reply.body);
        assert_eq!(
            run_params(&in_process)["reviewer"],
            "none",
            "{client_config}"
        );
    }
    server.nothing_more();
}

#[tokio::test]
async fn a_legacy_webhook_replaces_the_body_and_headers_the_chain_goes_on_with() {
    let mut server = interceptor_server(None).await;
    // First in the chain, then a cel filter on what it answered; the bindings read its answer.
    // (Its answer holds no signature: no github check after it.)
    let config = chain(
        "",
        &format!(
            r#"        - webhook:
            url: "{}/legacy"
            header:
              - {{name: X-Set, value: one}}
              - {{name: x-multi, value: [a, b]}}
              - {{name: User-Agent, value: [replaced-agent]}}
        - ref: {{name: cel}}
          params:
            - {{name: filter, value: "body.rewritten && header.match('X-Rewritten', 'yes')"}}
"#,
            server.base
        ),
        "$(body.seen.action)-$(header.X-Rewritten)",
    );
    let running = serve(&config, None).await;
    let reply = send(&running, "legacy/path?q=1", BODY).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let call = server.next().await;
    assert_eq!(call.path, "/legacy");
    assert_eq!(
        call.body.as_ref(),
        BODY.as_bytes(),
        "first in the chain, no extensions: the body as received"
    );
    assert_eq!(
        call.header("eventlistener-request-url"),
        ["/legacy/path?q=1"]
    );
    assert_eq!(call.header("x-set"), ["one"]);
    assert_eq!(call.header("x-multi"), ["a", "b"]);
    assert_eq!(call.header("user-agent"), ["replaced-agent"]);
    assert_eq!(call.header("x-github-event"), ["pull_request"], "passed on");
    assert_eq!(
        call.header("content-length"),
        [BODY.len().to_string().as_str()]
    );
    let params = run_params(&running);
    assert_eq!(params["action"], "opened-yes", "bindings read the answer");
}

#[tokio::test]
async fn a_legacy_webhook_after_other_interceptors_gets_their_extensions_in_the_body() {
    let mut server = interceptor_server(None).await;
    let config = manifests(
        "",
        &format!("        - webhook: {{url: \"{}/legacy\"}}", server.base),
    );
    let running = serve(&config, None).await;
    let reply = send(&running, "", BODY).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let sent = server.next().await.json();
    assert_eq!(sent["extensions"], json!({"from_cel": "opened!"}));
    assert_eq!(sent["action"], "opened");
    assert_eq!(sent["n"], 1.5);
    // The answer has no `action`: the binding fails on the replaced body.
    assert!(running.created().is_empty());

    let broken = serve(
        &manifests(
            "",
            &format!("        - webhook: {{url: \"{}/broken\"}}", server.base),
        ),
        None,
    )
    .await;
    let reply = send(&broken, "", BODY).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(
        reason(&reply),
        "interceptor webhook failed: request rejected; status: 500 Internal Server Error; message: broken on purpose"
    );
    assert_eq!(server.next().await.path, "/broken");
}

#[tokio::test]
async fn kube_interceptor_objects_are_followed_in_cluster_mode() {
    let Some(server) = api_server() else {
        return skipped("kube_interceptor_objects_are_followed_in_cluster_mode");
    };
    let mut interceptors = interceptor_server(None).await;
    let namespace = server.new_namespace("webhook");
    // Cluster-scoped: a name of this test's own.
    let cluster_name = format!("custom-{namespace}");
    let trigger = |name: &str, reference: &str| {
        format!(
            r#"    - name: {name}
      interceptors:
        - ref: {reference}
      bindings:
        - {{name: reviewer, value: "$(extensions.reviewer)"}}
      template:
        spec:
          params: [{{name: reviewer}}]
          resourcetemplates:
            - apiVersion: tekton.dev/v1
              kind: PipelineRun
              metadata: {{generateName: {name}-}}
              spec:
                params: [{{name: reviewer, value: "$(tt.params.reviewer)"}}]
"#
        )
    };
    let listener = format!(
        "apiVersion: triggers.tekton.dev/v1beta1\nkind: EventListener\nmetadata: {{name: el}}\nspec:\n  triggers:\n{}{}",
        trigger("namespaced", "{name: mine, kind: NamespacedInterceptor}"),
        trigger("clustered", &format!("{{name: {cluster_name}}}")),
    );
    server.kubectl_stdin_ok(&["apply", "-n", &namespace, "-f", "-"], &listener);
    let (handle, url) = follow_listener(server, "el", &namespace, false).await;
    // Neither interceptor exists yet: both triggers are left out.
    serving(&handle, &[]).await;
    let broken: Vec<String> = handle
        .watch()
        .borrow()
        .as_ref()
        .map(|l| l.broken.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    assert!(
        broken.iter().any(|b| b.contains(&format!(
            "url resolution failed for interceptor mine with: Interceptor {namespace}/mine not found"
        ))),
        "{broken:?}"
    );

    let config = format!("{{url: \"{}/continue\"}}", interceptors.base);
    server.kubectl_stdin_ok(
        &["apply", "-n", &namespace, "-f", "-"],
        &format!(
            "apiVersion: triggers.tekton.dev/v1alpha1\nkind: Interceptor\nmetadata: {{name: mine}}\nspec:\n  clientConfig: {config}\n"
        ),
    );
    serving(&handle, &["namespaced"]).await;
    server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        &cluster_interceptor(&cluster_name, &config),
    );
    serving(&handle, &["namespaced", "clustered"]).await;

    let reply = deliver(&url, "push", b"{\"ref\": \"main\"}", None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let mut trigger_ids = vec![
        interceptors.next().await.json()["context"]["trigger_id"].clone(),
        interceptors.next().await.json()["context"]["trigger_id"].clone(),
    ];
    trigger_ids.sort_by_key(ToString::to_string);
    assert_eq!(
        trigger_ids,
        [
            json!(format!("namespaces/{namespace}/triggers/clustered")),
            json!(format!("namespaces/{namespace}/triggers/namespaced")),
        ]
    );
    let runs = server.pipeline_runs(&namespace);
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in &runs {
        assert_eq!(run["spec"]["params"][0]["value"], "florinda", "{run}");
    }
    server.kubectl_ok(&["delete", "clusterinterceptor", &cluster_name]);
    serving(&handle, &["namespaced"]).await;
}

#[tokio::test]
async fn a_trigger_groups_interceptor_is_called_once_with_the_groups_trigger_id() {
    let mut server = interceptor_server(None).await;
    let triggers: String = ["one", "two"]
        .iter()
        .map(|name| {
            format!(
                r#"---
apiVersion: triggers.tekton.dev/v1beta1
kind: Trigger
metadata: {{name: {name}, namespace: ci, labels: {{team: a}}}}
spec:
  bindings: [{{name: reviewer, value: "$(extensions.reviewer)"}}]
  template:
    spec:
      params: [{{name: reviewer}}]
      resourcetemplates:
        - apiVersion: tekton.dev/v1
          kind: PipelineRun
          metadata: {{generateName: {name}-}}
          spec: {{params: [{{name: reviewer, value: "$(tt.params.reviewer)"}}]}}
"#
            )
        })
        .collect();
    let config = format!(
        r#"{}{triggers}---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {{name: el, namespace: ci}}
spec:
  triggerGroups:
    - name: grp
      interceptors: [{{ref: {{name: custom}}, params: [{{name: p, value: 1}}]}}]
      triggerSelector: {{labelSelector: {{matchLabels: {{team: a}}}}}}
"#,
        cluster_interceptor("custom", &format!("{{url: \"{}/continue\"}}", server.base)),
    );
    let running = serve(&config, None).await;
    let reply = deliver(&running.url, "push", b"{\"ref\": \"main\"}", None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let call = server.next().await.json();
    assert_eq!(
        call["context"]["trigger_id"],
        "namespaces/ci/triggerGroups/grp"
    );
    assert_eq!(call["interceptor_params"], json!({"p": 1}));
    server.nothing_more();
    let created = running.created();
    assert_eq!(created.len(), 2, "{created:?}");
    for run in &created {
        assert_eq!(run["spec"]["params"][0]["value"], "florinda", "{run}");
    }
}

#[tokio::test]
async fn a_form_encoded_body_is_sent_as_upstreams_form_json_except_to_a_first_legacy_webhook() {
    let mut server = interceptor_server(None).await;
    let form = "text=hi+there&user_name=bob&text=%3Cagain%3E";
    let base = server.base.clone();
    let listener = |interceptors: &str| {
        format!(
            r#"{}---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: el
  namespace: ci
  annotations: {{tekton.dev/payload-validation: "false"}}
spec:
  triggers:
    - name: t
      interceptors: {interceptors}
      template:
        spec:
          resourcetemplates:
            - {{apiVersion: v1, kind: ConfigMap, metadata: {{generateName: form-}}}}
"#,
            cluster_interceptor("custom", &format!("{{url: \"{base}/continue\"}}")),
        )
    };
    let post = |url: String| async move {
        let response = reqwest::Client::new()
            .post(url)
            .timeout(TIMEOUT)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("sent");
        Reply::read(response).await
    };

    let custom = serve(&listener("[{ref: {name: custom}}]"), None).await;
    let reply = post(custom.url.clone()).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        server.next().await.json()["body"],
        r#"{"text":["hi there","\u003cagain\u003e"],"user_name":["bob"]}"#,
        "Go's json.Marshal of the parsed form"
    );

    let legacy = serve(
        &listener(&format!(
            "[{{webhook: {{url: \"{}/legacy\"}}}}, {{ref: {{name: custom}}}}]",
            server.base
        )),
        None,
    )
    .await;
    let reply = post(legacy.url.clone()).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let first = server.next().await;
    assert_eq!(first.path, "/legacy");
    assert_eq!(first.body.as_ref(), form.as_bytes(), "sent as received");
    let second = server.next().await.json();
    assert_eq!(
        second["body"], "{\"rewritten\":true,\"seen\":null}",
        "the next interceptor reads the webhook's answer"
    );
    assert_eq!(second["header"]["X-Rewritten"], json!(["yes"]));
}

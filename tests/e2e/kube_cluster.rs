//! The listener against a real kube-apiserver (support/api_server.rs): objects created through
//! the API, impersonation, configuration and Secrets read from the cluster and followed.

use std::sync::Arc;
use std::time::Duration;

use eventlistener::event_listener::{
    Listener, ListenerHandle, ListenerPublisher, LoadOptions, follow_cluster,
};
use eventlistener::resources::KubeCreator;
use eventlistener::secrets::{KubeSecrets, SecretStore};
use eventlistener::sink::{AppState, serve};
use serde_json::Value;

use crate::support::api_server::{ApiServer, api_server, skipped};
use crate::support::{DEV_SECRET, TIMEOUT, deliver, fixture, probe, repo_path};

pub(crate) async fn kube_config(server: &ApiServer) -> kube::Config {
    let kubeconfig = kube::config::Kubeconfig::read_from(&server.kubeconfig).expect("kubeconfig");
    kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .expect("config from kubeconfig")
}

/// Serves `listener` with the kube sink on 127.0.0.1:0; the URL. Stops with the test's runtime.
async fn serve_kube(server: &ApiServer, listener: ListenerHandle) -> String {
    serve_kube_with(server, listener, Arc::default()).await
}

/// [`serve_kube`] recording into `metrics`.
pub(crate) async fn serve_kube_with(
    server: &ApiServer,
    listener: ListenerHandle,
    metrics: Arc<eventlistener::metrics::Metrics>,
) -> String {
    let creator = KubeCreator::new(kube_config(server).await).expect("kube creator");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", tcp.local_addr().expect("addr"));
    let state = AppState {
        max_body_bytes: 1024 * 1024,
        event_timeout: TIMEOUT,
        metrics,
        ..AppState::new(listener, Arc::new(creator))
    };
    tokio::spawn(serve(tcp, state, std::future::pending()));
    url
}

fn pipeline_runs(server: &ApiServer, namespace: &str) -> Vec<Value> {
    server.pipeline_runs(namespace)
}

fn param<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["spec"]["params"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .map_or(&Value::Null, |p| &p["value"])
}

#[tokio::test]
async fn a_signed_pull_request_creates_the_pipeline_run_in_the_cluster() {
    let Some(server) = api_server() else {
        return skipped("a_signed_pull_request_creates_the_pipeline_run_in_the_cluster");
    };
    let namespace = server.new_namespace("kube-sink");
    let listener = Listener::load(&LoadOptions {
        paths: vec![repo_path("config")],
        listener: None,
        namespace: Some(namespace.clone()),
        require_trigger_service_account: false,
        ..LoadOptions::default()
    })
    .expect("config loads");
    let url = serve_kube(server, ListenerHandle::fixed(listener)).await;
    let body = fixture("pull_request.opened");
    let payload: Value = serde_json::from_slice(&body).unwrap();

    let reply = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);

    let runs = pipeline_runs(server, &namespace);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    let name = run["metadata"]["name"].as_str().unwrap();
    assert_eq!(
        name.strip_prefix("chespirito-staging-pipeline-")
            .map(str::len),
        Some(eventlistener::resources::IDEMPOTENT_SUFFIX_LEN),
        "{name}"
    );
    assert_eq!(
        param(run, "revision"),
        &payload["pull_request"]["head"]["sha"]
    );
    assert_eq!(param(run, "repo-url"), &payload["repository"]["clone_url"]);
    let labels = &run["metadata"]["labels"];
    assert_eq!(
        labels["triggers.tekton.dev/eventlistener"],
        "chespirito-github-el"
    );
    assert_eq!(labels["triggers.tekton.dev/trigger"], "pr-trigger");
    assert_eq!(
        labels["triggers.tekton.dev/triggers-eventid"],
        reply.body["eventID"]
    );
}

const IMPERSONATING: &str = r#"
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: as-builder
spec:
  triggers:
    - name: build
      serviceAccountName: builder
      bindings:
        - name: sha
          value: $(body.pull_request.head.sha)
      template:
        spec:
          params:
            - name: sha
          resourcetemplates:
            - apiVersion: tekton.dev/v1
              kind: PipelineRun
              metadata:
                generateName: build-
              spec:
                pipelineRef:
                  name: build
                params:
                  - name: revision
                    value: $(tt.params.sha)
"#;

#[tokio::test]
async fn a_triggers_service_account_is_impersonated() {
    let Some(server) = api_server() else {
        return skipped("a_triggers_service_account_is_impersonated");
    };
    let namespace = server.new_namespace("impersonate");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("el.yaml");
    std::fs::write(&config, IMPERSONATING).unwrap();
    let listener = Listener::load(&LoadOptions {
        paths: vec![config],
        listener: None,
        namespace: Some(namespace.clone()),
        require_trigger_service_account: false,
        ..LoadOptions::default()
    })
    .expect("config loads");
    let url = serve_kube(server, ListenerHandle::fixed(listener)).await;
    let body = fixture("pull_request.opened");

    let reply = deliver(&url, "pull_request", &body, None).await;
    assert_eq!(
        reply.status, 500,
        "403 from the API, not retried: {}",
        reply.body
    );
    assert!(pipeline_runs(server, &namespace).is_empty());

    server.grant(
        &namespace,
        "builder",
        &["create"],
        &["pipelineruns.tekton.dev"],
    );
    let reply = deliver(&url, "pull_request", &body, None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(pipeline_runs(server, &namespace).len(), 1);
}

#[tokio::test]
async fn configuration_is_read_from_the_cluster_and_followed() {
    let Some(server) = api_server() else {
        return skipped("configuration_is_read_from_the_cluster_and_followed");
    };
    let namespace = server.new_namespace("cluster-config");
    let config_dir = repo_path("config");
    server.kubectl_ok(&[
        "apply",
        "-n",
        &namespace,
        "-f",
        config_dir.to_str().unwrap(),
    ]);

    let (publish, handle) = ListenerHandle::channel("chespirito-github-el", &namespace);
    let url = serve_kube(server, handle.clone()).await;
    let ready = || async { probe(&url, "ready").await.0 };
    assert_eq!(ready().await, 503, "not ready before the first sync");
    let body = fixture("pull_request.opened");
    let early = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(early.status, 503, "{}", early.body);

    let client = kube::Client::try_from(kube_config(server).await).unwrap();
    spawn_follower(client, publish, "chespirito-github-el", &namespace, false);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while ready().await != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let reply = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let runs = pipeline_runs(server, &namespace);
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0]["spec"]["pipelineRef"]["name"],
        "chespirito-staging-pipeline"
    );

    // Change the template in the cluster: an event soon uses it, with no restart.
    let staging = std::fs::read_to_string(config_dir.join("staging.yaml")).unwrap();
    let changed = staging.replace("name: chespirito-staging-pipeline\n", "name: staging-v2\n");
    assert_ne!(staging, changed);
    server.kubectl_stdin_ok(&["apply", "-n", &namespace, "-f", "-"], &changed);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let reply = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        let runs = pipeline_runs(server, &namespace);
        if runs
            .iter()
            .any(|r| r["spec"]["pipelineRef"]["name"] == "staging-v2")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new template was never used"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // A broken CEL filter leaves its trigger out; the other trigger keeps serving.
    let el = std::fs::read_to_string(config_dir.join("eventlistener.yaml")).unwrap();
    let broken = el.replace(
        "body.action in ['opened', 'synchronize']",
        "body.action in [",
    );
    assert_ne!(el, broken);
    let mut served = handle.watch();
    server.kubectl_stdin_ok(&["apply", "-n", &namespace, "-f", "-"], &broken);
    // Wait until the follower has seen the edit: without this the checks below would also pass
    // when the edit was never seen at all.
    tokio::time::timeout(
        TIMEOUT,
        served.wait_for(|l| {
            l.as_ref()
                .is_some_and(|l| l.broken.iter().any(|p| p.trigger == "pr-trigger"))
        }),
    )
    .await
    .expect("the broken trigger was never reported")
    .expect("the follower is running");
    let current = handle.current().expect("a configuration");
    let names: Vec<&str> = current.triggers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["push-main-trigger"]);
    let count = pipeline_runs(server, &namespace).len();
    let reply = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        pipeline_runs(server, &namespace).len(),
        count,
        "pr-trigger is out"
    );
    let merged = fixture("pull_request.closed.merged");
    let reply = deliver(&url, "pull_request", &merged, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let runs = pipeline_runs(server, &namespace);
    assert_eq!(runs.len(), count + 1, "push-main-trigger still serves");
    let newest = runs
        .iter()
        .find(|r| {
            r["metadata"]["labels"]["triggers.tekton.dev/triggers-eventid"] == reply.body["eventID"]
        })
        .expect("the run of the last event");
    assert_eq!(
        newest["spec"]["pipelineRef"]["name"],
        "chespirito-production-pipeline"
    );
}

/// Follows `config/` in `namespace` from the cluster and serves it with the kube sink: the
/// handle and the URL.
async fn follow(server: &ApiServer, namespace: &str) -> (ListenerHandle, String) {
    follow_listener(server, "chespirito-github-el", namespace, false).await
}

/// Follows the EventListener `name` of `namespace` from the cluster (with
/// `--require-trigger-service-account` as `require_service_account` says) and serves it with the
/// kube sink: the handle and the URL.
pub(crate) async fn follow_listener(
    server: &ApiServer,
    name: &str,
    namespace: &str,
    require_service_account: bool,
) -> (ListenerHandle, String) {
    let (publish, handle) = ListenerHandle::channel(name, namespace);
    let url = serve_kube(server, handle.clone()).await;
    let client = kube::Client::try_from(kube_config(server).await).unwrap();
    spawn_follower(client, publish, name, namespace, require_service_account);
    (handle, url)
}

/// Follows the EventListener `name` of `namespace` through `client` (configuration and
/// Secrets), publishing on `publish`, as `serve` does without `-f`.
pub(crate) fn spawn_follower(
    client: kube::Client,
    publish: ListenerPublisher,
    name: &str,
    namespace: &str,
    require_service_account: bool,
) {
    let secrets: Arc<dyn SecretStore> = Arc::new(KubeSecrets::new(client.clone()));
    let options = LoadOptions {
        paths: Vec::new(),
        listener: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        require_trigger_service_account: require_service_account,
        ..LoadOptions::default()
    };
    tokio::spawn(follow_cluster(client, options, secrets, publish));
}

/// Waits (bounded) until the listener in service serves exactly `triggers`.
pub(crate) async fn serving(handle: &ListenerHandle, triggers: &[&str]) {
    let mut served = handle.watch();
    let found = tokio::time::timeout(
        TIMEOUT,
        served.wait_for(|l| {
            l.as_ref().is_some_and(|l| {
                l.triggers
                    .iter()
                    .map(|t| t.name.as_str())
                    .eq(triggers.iter().copied())
            })
        }),
    )
    .await;
    assert!(
        matches!(found, Ok(Ok(_))),
        "never served exactly {triggers:?}"
    );
}

/// Applies `config/` in `namespace` without the production TriggerTemplate, so that
/// push-main-trigger references a missing template; the template's YAML, to apply later.
pub(crate) fn apply_all_but_the_production_template(server: &ApiServer, namespace: &str) -> String {
    let config_dir = repo_path("config");
    let file = |name: &str| config_dir.join(name).to_string_lossy().into_owned();
    for name in ["eventlistener.yaml", "staging.yaml", "secret.yaml"] {
        server.kubectl_ok(&["apply", "-n", namespace, "-f", &file(name)]);
    }
    let production = std::fs::read_to_string(config_dir.join("production.yaml")).unwrap();
    let (binding, template) = production
        .split_once("\n---\n")
        .expect("production.yaml: a binding, then a template");
    assert!(template.contains("kind: TriggerTemplate"), "{template}");
    server.kubectl_stdin_ok(&["apply", "-n", namespace, "-f", "-"], binding);
    template.to_owned()
}

#[tokio::test]
async fn a_trigger_with_a_missing_template_is_left_out_and_the_others_serve() {
    let Some(server) = api_server() else {
        return skipped("a_trigger_with_a_missing_template_is_left_out_and_the_others_serve");
    };
    let namespace = server.new_namespace("isolation");
    let template = apply_all_but_the_production_template(server, &namespace);

    // Started with the broken trigger present: ready, and the good trigger serves.
    let (handle, url) = follow(server, &namespace).await;
    serving(&handle, &["pr-trigger"]).await;
    assert_eq!(probe(&url, "ready").await.0, 200);
    let current = handle.current().expect("a configuration");
    assert!(
        current
            .broken
            .iter()
            .any(|p| p.trigger == "push-main-trigger" && p.to_string().contains("not found")),
        "{:?}",
        current.broken
    );
    let opened = fixture("pull_request.opened");
    let merged = fixture("pull_request.closed.merged");
    let reply = deliver(&url, "pull_request", &opened, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(pipeline_runs(server, &namespace).len(), 1);
    let reply = deliver(&url, "pull_request", &merged, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        pipeline_runs(server, &namespace).len(),
        1,
        "push-main is out"
    );

    // The template appears: the trigger joins.
    server.kubectl_stdin_ok(&["apply", "-n", &namespace, "-f", "-"], &template);
    serving(&handle, &["pr-trigger", "push-main-trigger"]).await;
    let reply = deliver(&url, "pull_request", &merged, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(pipeline_runs(server, &namespace).len(), 2);

    // The template is deleted: the trigger leaves, the other goes on.
    server.kubectl_ok(&[
        "delete",
        "-n",
        &namespace,
        "triggertemplates.triggers.tekton.dev",
        "github-push-main-trigger-template",
    ]);
    serving(&handle, &["pr-trigger"]).await;
    let reply = deliver(&url, "pull_request", &merged, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let reply = deliver(&url, "pull_request", &opened, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(pipeline_runs(server, &namespace).len(), 3);

    // The template is back but the binding no longer decodes: only that trigger is out, and it
    // says why.
    server.kubectl_stdin_ok(&["apply", "-n", &namespace, "-f", "-"], &template);
    serving(&handle, &["pr-trigger", "push-main-trigger"]).await;
    let undecodable = format!(
        "{{\"apiVersion\": \"triggers.tekton.dev/v1beta1\", \"kind\": \"TriggerBinding\",
          \"metadata\": {{\"name\": \"github-push-main-trigger-binding\", \"namespace\": \"{namespace}\"}},
          \"spec\": {{\"params\": 3}}}}"
    );
    server.kubectl_stdin_ok(&["apply", "-f", "-"], &undecodable);
    serving(&handle, &["pr-trigger"]).await;
    let current = handle.current().expect("a configuration");
    let problem = current
        .broken
        .iter()
        .find(|p| p.trigger == "push-main-trigger")
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        problem.contains(&format!(
            "TriggerBinding {namespace}/github-push-main-trigger-binding does not decode: field spec.params"
        )),
        "{:?}",
        current.broken
    );
    let reply = deliver(&url, "pull_request", &opened, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(pipeline_runs(server, &namespace).len(), 4);
}

#[tokio::test]
async fn secrets_are_read_from_the_cluster_and_rotation_is_seen_after_the_cache_ttl() {
    let Some(server) = api_server() else {
        return skipped(
            "secrets_are_read_from_the_cluster_and_rotation_is_seen_after_the_cache_ttl",
        );
    };
    let namespace = server.new_namespace("secrets");
    let config = kube_config(server).await;
    let client = kube::Client::try_from(config).unwrap();
    // Two stores on the same Secret: one whose TTL outlives the test, so "still cached" does not
    // depend on how fast kubectl is, and one with a short TTL, polled until the rotation shows.
    let cached = KubeSecrets::with_ttl(client.clone(), TIMEOUT * 10);
    let ttl = Duration::from_millis(300);
    let store = KubeSecrets::with_ttl(client, ttl);
    let set_secret = |value: &str| {
        server.kubectl_stdin_ok(
            &["apply", "-n", &namespace, "-f", "-"],
            &serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "github-webhook-secret"},
                "stringData": {"secretToken": value}
            })
            .to_string(),
        )
    };
    set_secret("first");
    async fn read(store: &KubeSecrets, namespace: &str) -> Result<String, String> {
        store
            .fetch(namespace, "github-webhook-secret", "secretToken")
            .await
            .map(|v| String::from_utf8_lossy(v.expose()).into_owned())
            .map_err(|e| e.to_string())
    }
    assert_eq!(read(&cached, &namespace).await.unwrap(), "first");
    assert_eq!(read(&store, &namespace).await.unwrap(), "first");
    set_secret("second");
    assert_eq!(
        read(&cached, &namespace).await.unwrap(),
        "first",
        "cached within the TTL"
    );
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let value = read(&store, &namespace).await.unwrap();
        if value == "second" {
            break;
        }
        assert_eq!(value, "first");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rotated secret was never read again after the TTL"
        );
        tokio::time::sleep(ttl / 4).await;
    }
    let missing = store.fetch(&namespace, "nope", "k").await.unwrap_err();
    assert!(missing.to_string().contains("not found"), "{missing}");
}

#[tokio::test]
async fn one_delivery_sent_fifty_times_to_two_listener_processes_is_one_pipeline_run() {
    let Some(server) = api_server() else {
        return skipped(
            "one_delivery_sent_fifty_times_to_two_listener_processes_is_one_pipeline_run",
        );
    };
    let namespace = server.new_namespace("idempotent");
    // Two listener processes on one API server, as two replicas behind one Service.
    let kubeconfig = server.kubeconfig.to_str().expect("utf-8 path");
    let args = ["-f", "config/", "--sink", "kube", "--namespace", &namespace];
    let envs = [("KUBECONFIG", kubeconfig)];
    let a = crate::support::spawn_serve(&args, &envs).await;
    let b = crate::support::spawn_serve(&args, &envs).await;
    let urls = [a.url(), b.url()];
    let body = fixture("pull_request.opened");
    let delivery = uuid::Uuid::new_v4().to_string();
    let replies = futures::future::join_all((0..50).map(|i| {
        crate::support::deliver_as(
            &urls[i % 2],
            "pull_request",
            &body,
            Some(DEV_SECRET),
            Some(&delivery),
        )
    }))
    .await;
    for reply in &replies {
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    let runs = pipeline_runs(server, &namespace);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        runs[0]["metadata"]["annotations"][eventlistener::resources::ANNOTATION_DELIVERY_ID],
        delivery.as_str()
    );
    let outcome = |reply: &crate::support::Reply| {
        reply.body["triggers"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["name"] == "pr-trigger"))
            .and_then(|t| t["outcome"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let created = replies.iter().filter(|r| outcome(r) == "created").count();
    let duplicate = replies.iter().filter(|r| outcome(r) == "duplicate").count();
    assert_eq!((created, duplicate), (1, 49));

    // Another delivery of the same event is another run.
    let other = crate::support::deliver_as(
        &urls[0],
        "pull_request",
        &body,
        Some(DEV_SECRET),
        Some("another-delivery"),
    )
    .await;
    assert_eq!(other.status, 202, "{}", other.body);
    assert_eq!(pipeline_runs(server, &namespace).len(), 2);
}

//! Cancelling superseded PipelineRuns (issue 16) against the real kube-apiserver: a Trigger that
//! opts in with `eventlistener.dev/cancel-superseded` patches the unfinished older runs of the
//! same pull request to `spec.status: CancelledRunFinally`. No Tekton controller runs here, so a
//! run is "finished" only when the test writes a `Succeeded` condition through the status
//! subresource.

use std::sync::Arc;

use eventlistener::event_listener::{Listener, ListenerHandle, LoadOptions};
use eventlistener::metrics::Metrics;
use serde_json::{Value, json};

use crate::kube_cluster::serve_kube_with;
use crate::support::api_server::{ApiServer, api_server, skipped};
use crate::support::deliver_as;

const KEY: &str = "$(body.repository.full_name)#$(body.pull_request.number)";

/// An EventListener whose one Trigger (`pr-build`) opts in; `annotations` are added to the
/// Trigger's (beside the cancel key), `spec` to its spec (e.g. a `serviceAccountName`).
fn config(annotations: &[(&str, &str)], spec: &str) -> String {
    let mut extra = String::new();
    for (key, value) in annotations {
        extra.push_str(&format!("    {key}: {value:?}\n"));
    }
    format!(
        r#"
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: cancel-el
spec:
  triggers:
    - triggerRef: pr-build
---
apiVersion: triggers.tekton.dev/v1beta1
kind: Trigger
metadata:
  name: pr-build
  annotations:
    eventlistener.dev/cancel-superseded: "{KEY}"
{extra}spec:
{spec}
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
"#
    )
}

/// Serves `yaml` in a new namespace with the kube sink; the namespace, the URL and the metrics.
async fn serve(server: &ApiServer, prefix: &str, yaml: &str) -> (String, String, Arc<Metrics>) {
    let namespace = server.new_namespace(prefix);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("el.yaml");
    std::fs::write(&path, yaml).expect("config written");
    let listener = Listener::load(&LoadOptions {
        paths: vec![path],
        listener: None,
        namespace: Some(namespace.clone()),
        require_trigger_service_account: false,
        ..LoadOptions::default()
    })
    .expect("config loads");
    let metrics = Arc::new(Metrics::new());
    let url = serve_kube_with(
        server,
        ListenerHandle::fixed(listener),
        Arc::clone(&metrics),
    )
    .await;
    (namespace, url, metrics)
}

/// A `pull_request` `synchronize` payload: a push of `sha` to pull request `number`.
fn push(number: u64, sha: &str, updated_at: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "action": "synchronize",
        "number": number,
        "repository": {"full_name": "octo/hello"},
        "pull_request": {"number": number, "updated_at": updated_at, "head": {"sha": sha}},
    }))
    .expect("JSON")
}

/// Delivers `body` under `delivery`; the answer must be 202. (Without a signature check the
/// answer carries no `triggers` field: what was created is read from the API server.)
async fn deliver(url: &str, body: &[u8], delivery: &str) {
    let reply = deliver_as(url, "pull_request", body, None, Some(delivery)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
}

/// The PipelineRun created for `sha`, as the API server has it now.
fn run_of(server: &ApiServer, namespace: &str, sha: &str) -> Value {
    let runs = server.pipeline_runs(namespace);
    let mut found = runs
        .iter()
        .filter(|r| r["spec"]["params"][0]["value"] == sha);
    let run = found
        .next()
        .unwrap_or_else(|| panic!("no run for {sha}: {runs:?}"))
        .clone();
    assert!(found.next().is_none(), "two runs for {sha}: {runs:?}");
    run
}

fn name(run: &Value) -> &str {
    run["metadata"]["name"].as_str().expect("a name")
}

/// `eventlistener_superseded_runs_total{trigger="pr-build",result=RESULT}`, 0 when absent.
fn superseded(metrics: &Metrics, result: &str) -> u64 {
    let text = metrics.encode().expect("metrics encode");
    let series =
        format!("eventlistener_superseded_runs_total{{trigger=\"pr-build\",result=\"{result}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

#[tokio::test]
async fn a_second_push_cancels_the_first_run_of_the_pull_request_only() {
    let Some(server) = api_server() else {
        return skipped("a_second_push_cancels_the_first_run_of_the_pull_request_only");
    };
    let (namespace, url, metrics) = serve(server, "cancel", &config(&[], "")).await;

    // An earlier run of pull request 1 that has finished: never patched.
    deliver(&url, &push(1, "f0", "2024-05-01T09:00:00Z"), "d-finished").await;
    let finished = run_of(server, &namespace, "f0");
    let status = json!({"status": {"conditions": [{"type": "Succeeded", "status": "True"}]}});
    server.kubectl_ok(&[
        "patch",
        &format!("pipelineruns.tekton.dev/{}", name(&finished)),
        "-n",
        &namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ]);
    // Pull request 2: another key.
    deliver(&url, &push(2, "b0", "2024-05-01T09:30:00Z"), "d-other").await;
    let first_body = push(1, "a1", "2024-05-01T10:00:00Z");
    deliver(&url, &first_body, "d-first").await;
    assert_eq!(run_of(server, &namespace, "a1")["spec"].get("status"), None);

    deliver(&url, &push(1, "a2", "2024-05-01T10:05:00Z"), "d-second").await;

    let first = run_of(server, &namespace, "a1");
    assert_eq!(first["spec"]["status"], "CancelledRunFinally", "{first}");
    let latest = run_of(server, &namespace, "a2");
    assert_eq!(latest["spec"].get("status"), None, "{latest}");
    assert_eq!(
        latest["metadata"]["labels"]["eventlistener.dev/cancel-key"],
        first["metadata"]["labels"]["eventlistener.dev/cancel-key"]
    );
    let finished = run_of(server, &namespace, "f0");
    assert_eq!(finished["spec"].get("status"), None, "{finished}");
    let other = run_of(server, &namespace, "b0");
    assert_eq!(other["spec"].get("status"), None, "{other}");
    assert_ne!(
        other["metadata"]["labels"]["eventlistener.dev/cancel-key"],
        latest["metadata"]["labels"]["eventlistener.dev/cancel-key"]
    );
    assert_eq!(superseded(&metrics, "cancelled"), 1);
    assert_eq!(superseded(&metrics, "failed"), 0);

    // GitHub's "Redeliver" of the first push: its run exists already (idempotency), so nothing
    // is created and nothing cancelled, though it is received after the latest run (the
    // default order is the time of processing, so a new run from it would cancel the latest).
    deliver(&url, &first_body, "d-first").await;

    assert_eq!(server.pipeline_runs(&namespace).len(), 4, "nothing created");
    let latest = run_of(server, &namespace, "a2");
    assert_eq!(latest["spec"].get("status"), None, "{latest}");
    assert_eq!(superseded(&metrics, "cancelled"), 1);
}

#[tokio::test]
async fn an_old_push_arriving_late_does_not_cancel_the_newer_run() {
    let Some(server) = api_server() else {
        return skipped("an_old_push_arriving_late_does_not_cancel_the_newer_run");
    };
    let order = (
        "eventlistener.dev/cancel-order",
        "$(body.pull_request.updated_at)",
    );
    let status = ("eventlistener.dev/cancel-status", "Cancelled");
    let (namespace, url, metrics) =
        serve(server, "cancel-order", &config(&[order, status], "")).await;

    deliver(&url, &push(7, "new", "2024-05-01T10:05:00Z"), "d-new").await;
    // The older push's first delivery failed while the listener was down; it comes now.
    deliver(&url, &push(7, "old", "2024-05-01T10:00:00Z"), "d-old").await;

    let newer = run_of(server, &namespace, "new");
    assert_eq!(newer["spec"].get("status"), None, "{newer}");
    assert_eq!(
        newer["metadata"]["annotations"]["eventlistener.dev/cancel-order-stamp"],
        "2024-05-01T10:05:00.000000000Z"
    );
    assert_eq!(superseded(&metrics, "cancelled"), 0);

    // A newer push still cancels both, with the configured status.
    deliver(&url, &push(7, "newest", "2024-05-01T10:10:00Z"), "d-newest").await;

    for sha in ["new", "old"] {
        let run = run_of(server, &namespace, sha);
        assert_eq!(run["spec"]["status"], "Cancelled", "{run}");
    }
    assert_eq!(
        run_of(server, &namespace, "newest")["spec"].get("status"),
        None
    );
    assert_eq!(superseded(&metrics, "cancelled"), 2);
}

#[tokio::test]
async fn a_refused_patch_is_counted_and_the_event_still_succeeds() {
    let Some(server) = api_server() else {
        return skipped("a_refused_patch_is_counted_and_the_event_still_succeeds");
    };
    let (namespace, url, metrics) = serve(
        server,
        "cancel-rbac",
        &config(&[], "  serviceAccountName: builder"),
    )
    .await;
    // The trigger's ServiceAccount may create, read back and list, not patch.
    server.grant(
        &namespace,
        "builder",
        &["create", "get", "list"],
        &["pipelineruns.tekton.dev"],
    );

    deliver(&url, &push(3, "c1", "2024-05-01T10:00:00Z"), "d-c1").await;
    deliver(&url, &push(3, "c2", "2024-05-01T10:05:00Z"), "d-c2").await;

    assert_eq!(server.pipeline_runs(&namespace).len(), 2);
    let first = run_of(server, &namespace, "c1");
    assert_eq!(first["spec"].get("status"), None, "{first}");
    assert_eq!(superseded(&metrics, "failed"), 1);
    assert_eq!(superseded(&metrics, "cancelled"), 0);
}

/// The local sinks have no runs to cancel: what they write carries the label and the
/// annotation, and nothing written is changed.
#[tokio::test]
async fn the_dir_sink_labels_what_it_writes_and_cancels_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("el.yaml");
    std::fs::write(&path, config(&[], "")).expect("config written");
    let running = crate::support::start(&[path]).await;

    deliver(&running.url, &push(1, "a1", "2024-05-01T10:00:00Z"), "d-1").await;
    deliver(&running.url, &push(1, "a2", "2024-05-01T10:05:00Z"), "d-2").await;

    let created = running.created();
    assert_eq!(created.len(), 2, "{created:?}");
    let key = eventlistener::resources::key_label("octo/hello#1");
    for run in &created {
        assert_eq!(
            run["metadata"]["labels"]["eventlistener.dev/cancel-key"],
            key.as_str()
        );
        let stamp = run["metadata"]["annotations"]["eventlistener.dev/cancel-order-stamp"]
            .as_str()
            .expect("an order stamp");
        assert!(
            eventlistener::resources::parse_order(stamp).is_some(),
            "{stamp}"
        );
        assert_eq!(run["spec"].get("status"), None, "{run}");
    }
}

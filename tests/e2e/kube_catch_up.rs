//! Catch-up in cluster mode (issue 16) against the real kube-apiserver: the state is the
//! ConfigMap `<listener>-eventlistener-catch-up`, one replica runs the passes under the Lease of
//! the same name, and a new process continues from the state the last one saved.

use serde_json::Value;

use crate::support::api_server::{ApiServer, api_server, skipped};
use crate::support::github_hooks::{GitHubHooks, REPO_HOOK};
use crate::support::{
    DEV_SECRET, Spawned, TIMEOUT, fixture, nothing_listens, repo_path, sample, scrape, spawn_serve,
};

const EL: &str = "chespirito-github-el";
const STATE: &str = "chespirito-github-el-eventlistener-catch-up";
const TOKEN: &str = "ghp_kube_catch_up_token";

/// `serve` in cluster mode as pod `pod`, catching up on the double's repository hook every
/// second.
async fn replica(
    server: &ApiServer,
    namespace: &str,
    pod: &str,
    github: &GitHubHooks,
    token: &std::path::Path,
) -> Spawned {
    let kubeconfig = server.kubeconfig.to_str().expect("utf-8 path");
    spawn_serve(
        &[
            "--listener",
            EL,
            "--namespace",
            namespace,
            "--drain-delay",
            "0",
            "--catch-up-hook",
            "repo:octo/app:1",
            "--catch-up-interval",
            "1s",
            "--catch-up-pace",
            "0s",
            "--github-api-url",
            &github.url,
            "--github-token-file",
            token.to_str().expect("utf-8 path"),
        ],
        &[("KUBECONFIG", kubeconfig), ("POD_NAME", pod)],
    )
    .await
}

/// Polls `check` every 200 ms until it gives a value, failing with `what` after `TIMEOUT`.
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The catch-up state the ConfigMap holds, if any.
fn state(server: &ApiServer, namespace: &str) -> Option<Value> {
    let out = server.kubectl(&["get", "configmap", STATE, "-n", namespace, "-o", "json"]);
    let config_map: Value = serde_json::from_slice(&out.stdout).ok()?;
    serde_json::from_str(config_map["data"]["state.json"].as_str()?).ok()
}

/// Whether this replica has finished a catch-up pass (its metrics say when).
async fn has_run_a_pass(replica: &Spawned) -> bool {
    let text = scrape(&format!("http://{}/metrics", replica.metrics_addr)).await;
    sample(
        &text,
        "eventlistener_catchup_last_pass_timestamp_seconds{hook=\"repo:octo/app:1\"}",
    )
    .is_some()
}

#[tokio::test]
async fn one_replica_catches_up_with_its_state_in_a_config_map_and_the_next_continues_from_it() {
    let Some(server) = api_server() else {
        return skipped(
            "one_replica_catches_up_with_its_state_in_a_config_map_and_the_next_continues_from_it",
        );
    };
    let namespace = server.new_namespace("catch-up");
    for name in [
        "eventlistener.yaml",
        "staging.yaml",
        "production.yaml",
        "secret.yaml",
    ] {
        let file = repo_path("config").join(name);
        server.kubectl_ok(&[
            "apply",
            "-n",
            &namespace,
            "-f",
            file.to_str().expect("utf-8"),
        ]);
    }
    let github = GitHubHooks::start(&nothing_listens().await, DEV_SECRET, TOKEN).await;
    let body = fixture("pull_request.opened");
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(github.deliver(REPO_HOOK, "pull_request", &body).await.guid);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).expect("token");

    let a = replica(server, &namespace, "replica-a", &github, &token).await;
    let b = replica(server, &namespace, "replica-b", &github, &token).await;
    github.set_target(&a.url());
    eventually("three PipelineRuns", || {
        (server.pipeline_runs(&namespace).len() == 3).then_some(())
    })
    .await;
    let saved = eventually("the state in the ConfigMap names the three guids", || {
        let state = state(server, &namespace)?;
        let redelivered = state["hooks"]["repo:octo/app:1"]["redelivered"].as_object()?;
        first
            .iter()
            .all(|g| redelivered.contains_key(g))
            .then_some(state)
    })
    .await;
    assert!(saved["hooks"]["repo:octo/app:1"]["after"].is_string());
    // The Lease decides: one replica runs the passes, the other none.
    let ran = [has_run_a_pass(&a).await, has_run_a_pass(&b).await];
    assert_eq!(
        ran.iter().filter(|r| **r).count(),
        1,
        "exactly one replica runs catch-up: {ran:?}"
    );
    drop(a);
    drop(b);

    // A delivery fails while no replica runs; a new one continues from the saved state.
    github.set_target(&nothing_listens().await);
    let late = github.deliver(REPO_HOOK, "pull_request", &body).await.guid;
    let c = replica(server, &namespace, "replica-c", &github, &token).await;
    github.set_target(&c.url());
    eventually("the fourth PipelineRun", || {
        (server.pipeline_runs(&namespace).len() == 4).then_some(())
    })
    .await;
    let state = eventually("the state names the late guid too", || {
        let state = state(server, &namespace)?;
        state["hooks"]["repo:octo/app:1"]["redelivered"]
            .get(&late)
            .map(|_| state.clone())
    })
    .await;
    let redelivered = state["hooks"]["repo:octo/app:1"]["redelivered"]
        .as_object()
        .expect("redelivered");
    assert!(
        first.iter().all(|g| redelivered.contains_key(g)),
        "the earlier guids were carried over from the ConfigMap: {state}"
    );
    let mut names: Vec<String> = server
        .pipeline_runs(&namespace)
        .iter()
        .map(|r| r["metadata"]["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 4, "each PipelineRun once");
}

#[tokio::test]
async fn the_charts_catch_up_rules_are_enough_to_create_read_and_update_the_state() {
    use eventlistener::catch_up::{Checkpoint, State, Store};

    let Some(server) = api_server() else {
        return skipped("the_charts_catch_up_rules_are_enough_to_create_read_and_update_the_state");
    };
    let namespace = server.new_namespace("catch-up-rbac");
    // Exactly what the chart grants for catch-up's ConfigMap (charts/…/rbac.yaml).
    let rbac = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "el", "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "catch-up", "namespace": namespace},
         "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [STATE], "verbs": ["get", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "catch-up", "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "catch-up"},
         "subjects": [{"kind": "ServiceAccount", "name": "el", "namespace": namespace}]}]});
    server.kubectl_stdin_ok(&["apply", "-f", "-"], &rbac.to_string());
    let mut config = crate::kube_cluster::kube_config(server).await;
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:el"));
    let client = kube::Client::try_from(config).expect("client");
    let store = Store::ConfigMap {
        api: Box::new(kube::Api::namespaced(client.clone(), &namespace)),
        name: Store::config_map_name(EL),
    };
    let mut state = State::default();
    state.hooks.insert(
        "app".to_owned(),
        Checkpoint::starting(chrono::DateTime::from_timestamp(1_780_000_000, 0).expect("time")),
    );
    // RBAC reaches the authorizer through a cache: the first save may be refused for a moment.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while let Err(e) = store.save(&state).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first save (create): {e}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(store.load().await.expect("load"), state);
    state.hooks.insert(
        "org:octo:2".to_owned(),
        Checkpoint::starting(chrono::DateTime::from_timestamp(1_780_000_100, 0).expect("time")),
    );
    store.save(&state).await.expect("the second save (patch)");
    assert_eq!(store.load().await.expect("load"), state);
    // Another ConfigMap's name is not granted.
    let other = Store::ConfigMap {
        api: Box::new(kube::Api::namespaced(client, &namespace)),
        name: "someone-elses".to_owned(),
    };
    assert!(
        other.load().await.is_err(),
        "only the named ConfigMap is readable"
    );
}

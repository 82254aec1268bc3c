//! Cluster mode's selectors (reference §2.6) against the real kube-apiserver: the
//! EventListener's `namespaceSelector` (names, and exactly `["*"]`) and `labelSelector` choose
//! Triggers from other namespaces, whose bindings and templates are read in their own
//! namespace and whose PipelineRuns are created there; `--require-trigger-service-account`
//! leaves out foreign Triggers that name no ServiceAccount.

use std::collections::BTreeSet;

use eventlistener::event_listener::ListenerHandle;
use serde_json::json;

use crate::kube_cluster::follow_listener;
use crate::support::api_server::{ApiServer, api_server, skipped};
use crate::support::{TIMEOUT, deliver, fixture};

const LISTENER: &str = "selecting-el";

/// A Trigger `name` in `namespace` with its own TriggerBinding and TriggerTemplate there (the
/// PipelineRun's pipelineRef names the trigger and its namespace), `labels` on the Trigger and,
/// if given, a `serviceAccountName`.
fn trigger(
    server: &ApiServer,
    namespace: &str,
    name: &str,
    labels: serde_json::Value,
    service_account: Option<&str>,
) {
    let group = "triggers.tekton.dev/v1beta1";
    let mut spec = json!({"bindings": [{"ref": format!("{name}-binding")}],
                          "template": {"ref": format!("{name}-template")}});
    if let Some(sa) = service_account {
        spec["serviceAccountName"] = json!(sa);
    }
    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": group, "kind": "TriggerBinding", "metadata": {"name": format!("{name}-binding")},
         "spec": {"params": [{"name": "revision", "value": "$(body.pull_request.head.sha)"}]}},
        {"apiVersion": group, "kind": "TriggerTemplate", "metadata": {"name": format!("{name}-template")},
         "spec": {"params": [{"name": "revision"}], "resourcetemplates": [{
             "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
             "metadata": {"generateName": format!("{name}-")},
             "spec": {"pipelineRef": {"name": format!("{namespace}.{name}")},
                      "params": [{"name": "revision", "value": "$(tt.params.revision)"}]}}]}},
        {"apiVersion": group, "kind": "Trigger",
         "metadata": {"name": name, "labels": labels}, "spec": spec},
    ]});
    server.kubectl_stdin_ok(&["apply", "-n", namespace, "-f", "-"], &objects.to_string());
}

/// Creates or replaces the EventListener with `spec`.
fn event_listener(server: &ApiServer, namespace: &str, spec: serde_json::Value) {
    let object = json!({"apiVersion": "triggers.tekton.dev/v1beta1", "kind": "EventListener",
                        "metadata": {"name": LISTENER}, "spec": spec});
    server.kubectl_stdin_ok(&["apply", "-n", namespace, "-f", "-"], &object.to_string());
}

/// Waits (bounded) until the listener serves exactly `triggers` (`namespace/name`, any order).
async fn serving(handle: &ListenerHandle, triggers: &[String]) {
    let wanted: BTreeSet<&str> = triggers.iter().map(String::as_str).collect();
    let mut served = handle.watch();
    let found = tokio::time::timeout(
        TIMEOUT,
        served.wait_for(|l| {
            l.as_ref().is_some_and(|l| {
                let names: Vec<String> = l
                    .triggers
                    .iter()
                    .map(|t| format!("{}/{}", t.namespace, t.name))
                    .collect();
                names.len() == wanted.len() && names.iter().all(|n| wanted.contains(n.as_str()))
            })
        }),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    let now: Vec<String> = handle.current().map_or_else(Vec::new, |l| {
        l.triggers
            .iter()
            .map(|t| format!("{}/{}", t.namespace, t.name))
            .collect()
    });
    assert!(found, "never served exactly {wanted:?}; serving {now:?}");
}

/// The pipelineRef names of the PipelineRuns in `namespace`, sorted.
fn runs(server: &ApiServer, namespace: &str) -> Vec<String> {
    let mut names: Vec<String> = server
        .pipeline_runs(namespace)
        .iter()
        .map(|r| {
            r["spec"]["pipelineRef"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn namespace_and_label_selectors_choose_triggers_across_namespaces() {
    let Some(server) = api_server() else {
        return skipped("namespace_and_label_selectors_choose_triggers_across_namespaces");
    };
    let home = server.new_namespace("sel-home");
    let (a, b, c) = (
        server.new_namespace("sel-a"),
        server.new_namespace("sel-b"),
        server.new_namespace("sel-c"),
    );
    trigger(server, &home, "home", json!({}), None);
    trigger(server, &a, "build", json!({"team": "blue"}), None);
    trigger(server, &b, "build", json!({"team": "red"}), None);
    trigger(server, &c, "deploy", json!({"team": "blue"}), None);
    let id = |ns: &str, name: &str| format!("{ns}/{name}");

    // Two namespaces by name: their Triggers run, resolved and created in their namespaces.
    event_listener(
        server,
        &home,
        json!({"namespaceSelector": {"matchNames": [a, b]}}),
    );
    let (handle, url) = follow_listener(server, LISTENER, &home, false).await;
    serving(&handle, &[id(&a, "build"), id(&b, "build")]).await;
    let opened = fixture("pull_request.opened");
    let reply = deliver(&url, "pull_request", &opened, None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(runs(server, &a), [format!("{a}.build")]);
    assert_eq!(runs(server, &b), [format!("{b}.build")]);
    assert!(runs(server, &c).is_empty() && runs(server, &home).is_empty());

    // One name fewer: that namespace's Trigger leaves.
    event_listener(
        server,
        &home,
        json!({"namespaceSelector": {"matchNames": [a]}}),
    );
    serving(&handle, &[id(&a, "build")]).await;

    // Exactly ["*"]: every namespace, the EventListener's too.
    event_listener(
        server,
        &home,
        json!({"namespaceSelector": {"matchNames": ["*"]}}),
    );
    serving(
        &handle,
        &[
            id(&home, "home"),
            id(&a, "build"),
            id(&b, "build"),
            id(&c, "deploy"),
        ],
    )
    .await;

    // A labelSelector with ["*"]: the matching Triggers of every namespace.
    event_listener(
        server,
        &home,
        json!({"namespaceSelector": {"matchNames": ["*"]},
               "labelSelector": {"matchLabels": {"team": "blue"}}}),
    );
    serving(&handle, &[id(&a, "build"), id(&c, "deploy")]).await;
    let reply = deliver(&url, "pull_request", &opened, None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        runs(server, &a),
        [format!("{a}.build"), format!("{a}.build")]
    );
    assert_eq!(runs(server, &c), [format!("{c}.deploy")]);
    assert_eq!(runs(server, &b).len(), 1, "red is not selected");

    // A labelSelector alone: the EventListener's namespace only.
    trigger(server, &home, "home", json!({"team": "blue"}), None);
    event_listener(
        server,
        &home,
        json!({"labelSelector": {"matchLabels": {"team": "blue"}}}),
    );
    serving(&handle, &[id(&home, "home")]).await;
}

#[tokio::test]
async fn required_service_accounts_leave_out_foreign_triggers_without_one() {
    let Some(server) = api_server() else {
        return skipped("required_service_accounts_leave_out_foreign_triggers_without_one");
    };
    let home = server.new_namespace("sa-home");
    let team = server.new_namespace("sa-team");
    trigger(server, &home, "home", json!({}), None);
    trigger(server, &team, "anonymous", json!({}), None);
    trigger(
        server,
        &team,
        "accountable",
        json!({}),
        Some("team-builder"),
    );
    event_listener(
        server,
        &home,
        json!({"namespaceSelector": {"matchNames": [home, team]}}),
    );
    let (handle, _) = follow_listener(server, LISTENER, &home, true).await;
    // The EventListener's own namespace needs no ServiceAccount; the foreign one does.
    serving(
        &handle,
        &[format!("{home}/home"), format!("{team}/accountable")],
    )
    .await;
    let current = handle.current().expect("a configuration");
    let problem = current
        .broken
        .iter()
        .find(|p| p.trigger == "anonymous")
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        problem.contains("serviceAccountName")
            && problem.contains(&format!("selected from namespace {team}")),
        "{:?}",
        current.broken
    );
}

#[tokio::test]
async fn a_trigger_group_selects_triggers_from_its_own_namespaces() {
    let Some(server) = api_server() else {
        return skipped("a_trigger_group_selects_triggers_from_its_own_namespaces");
    };
    let home = server.new_namespace("grp-home");
    let (a, b) = (server.new_namespace("grp-a"), server.new_namespace("grp-b"));
    trigger(server, &a, "build", json!({"team": "blue"}), None);
    trigger(server, &b, "build", json!({"team": "blue"}), None);
    // The group names only `b`: the listener must watch it although the EventListener itself
    // selects nothing there.
    event_listener(
        server,
        &home,
        json!({"triggerGroups": [{
            "name": "opened-only",
            "interceptors": [{"ref": {"name": "cel"},
                              "params": [{"name": "filter", "value": "body.action == 'opened'"}]}],
            "triggerSelector": {"namespaceSelector": {"matchNames": [b]}}
        }]}),
    );
    let (handle, url) = follow_listener(server, LISTENER, &home, false).await;
    serving(&handle, &[format!("{b}/build")]).await;
    let reply = deliver(&url, "pull_request", &fixture("pull_request.opened"), None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(runs(server, &b), [format!("{b}.build")]);
    assert!(runs(server, &a).is_empty());
    // The group's filter stops its Triggers.
    let closed = fixture("pull_request.closed.unmerged");
    let reply = deliver(&url, "pull_request", &closed, None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(runs(server, &b).len(), 1);
}

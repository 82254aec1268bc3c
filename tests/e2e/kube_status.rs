//! Cluster mode writes back (src/event_listener/status.rs), against a real kube-apiserver: the
//! EventListener's status, its Kubernetes Events, and the Lease that lets one replica write;
//! and the per-event notices the sink sends for those Events.

use std::time::Duration;

use serde_json::Value;

use crate::kube_cluster::apply_all_but_the_production_template;
use crate::support::api_server::{ApiServer, api_server, skipped};
use crate::support::{DEV_SECRET, Spawned, TIMEOUT, deliver, fixture, repo_path, spawn_serve};

const EL: &str = "chespirito-github-el";
const LEASE: &str = "chespirito-github-el-eventlistener-status";

/// Long enough for a Lease to expire (15 s) and be taken, with a margin.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(40);

/// `serve` in cluster mode on `namespace`'s EventListener, as pod `pod`, with `envs` added.
async fn serve_cluster(
    server: &ApiServer,
    namespace: &str,
    pod: &str,
    envs: &[(&str, &str)],
) -> Spawned {
    let kubeconfig = server.kubeconfig.to_str().expect("utf-8 path");
    let url = advertised(namespace);
    let args = [
        "--listener",
        EL,
        "--namespace",
        namespace,
        "--advertised-url",
        &url,
        "--drain-delay",
        "0",
    ];
    let mut all = vec![("KUBECONFIG", kubeconfig), ("POD_NAME", pod)];
    all.extend_from_slice(envs);
    spawn_serve(&args, &all).await
}

fn advertised(namespace: &str) -> String {
    format!("http://listener.{namespace}.svc.cluster.local:8080")
}

fn get_json(server: &ApiServer, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&server.kubectl_ok(&all)).expect("kubectl prints JSON")
}

fn event_listener(server: &ApiServer, namespace: &str) -> Value {
    get_json(
        server,
        &[
            "eventlisteners.triggers.tekton.dev",
            EL,
            "-n",
            namespace,
            "--show-managed-fields",
        ],
    )
}

/// The Lease's holder, if the Lease exists and is held.
fn holder(server: &ApiServer, namespace: &str) -> Option<String> {
    let out = server.kubectl(&["get", "lease", LEASE, "-n", namespace, "-o", "json"]);
    let lease: Value = serde_json::from_slice(&out.stdout).ok()?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_owned)
}

/// The Kubernetes Events on the EventListener.
fn events(server: &ApiServer, namespace: &str) -> Vec<Value> {
    let list = get_json(server, &["events", "-n", namespace]);
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            e["involvedObject"]["kind"] == "EventListener" && e["involvedObject"]["name"] == EL
        })
        .collect()
}

/// The field managers that wrote the EventListener's status.
fn status_writers(el: &Value) -> Vec<String> {
    el["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["fieldsV1"].get("f:status").is_some())
        .filter_map(|m| m["manager"].as_str().map(str::to_owned))
        .collect()
}

/// Polls `check` every 200 ms until it gives a value, failing with `what` after `timeout`.
async fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ready_condition(el: &Value) -> Value {
    el["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_status_names_a_broken_trigger_until_it_is_fixed() {
    let Some(server) = api_server() else {
        return skipped("the_status_names_a_broken_trigger_until_it_is_fixed");
    };
    let namespace = server.new_namespace("status");
    let template = apply_all_but_the_production_template(server, &namespace);
    let _listener = serve_cluster(server, &namespace, "replica-a", &[]).await;

    let el = eventually(
        "a Ready condition naming push-main-trigger",
        TIMEOUT,
        || {
            let el = event_listener(server, &namespace);
            let message = ready_condition(&el)["message"].as_str()?.to_owned();
            message.contains("push-main-trigger").then_some(el)
        },
    )
    .await;
    assert_eq!(
        el["status"]["address"]["url"],
        advertised(&namespace).as_str()
    );
    let ready = ready_condition(&el);
    assert_eq!(ready["status"], "True", "pr-trigger serves: {ready}");
    assert_eq!(ready["reason"], "TriggersInvalid");
    let message = ready["message"].as_str().unwrap();
    assert!(message.contains("not found"), "{message}");
    assert!(
        message.starts_with("1 trigger serving, 1 left out"),
        "{message}"
    );
    assert!(ready["lastTransitionTime"].is_string(), "{ready}");

    let warning = eventually("a TriggerInvalid Event", TIMEOUT, || {
        events(server, &namespace)
            .into_iter()
            .find(|e| e["reason"] == "TriggerInvalid")
    })
    .await;
    assert_eq!(warning["type"], "Warning");
    let note = warning["message"].as_str().unwrap_or_default();
    assert!(
        note.contains("push-main-trigger") && note.contains("not found"),
        "{note}"
    );

    // The template appears: the condition stops naming the trigger.
    server.kubectl_stdin_ok(&["apply", "-n", &namespace, "-f", "-"], &template);
    let ready = eventually(
        "a Ready condition with every trigger serving",
        TIMEOUT,
        || {
            let ready = ready_condition(&event_listener(server, &namespace));
            (ready["reason"] == "TriggersServing").then_some(ready)
        },
    )
    .await;
    assert_eq!(ready["status"], "True");
    assert_eq!(ready["message"], "2 triggers serving");
}

#[tokio::test]
async fn one_replica_holds_the_lease_and_writes_and_the_other_takes_over() {
    let Some(server) = api_server() else {
        return skipped("one_replica_holds_the_lease_and_writes_and_the_other_takes_over");
    };
    let namespace = server.new_namespace("lease");
    let template = apply_all_but_the_production_template(server, &namespace);
    let mut a = serve_cluster(server, &namespace, "replica-a", &[]).await;
    let mut b = serve_cluster(server, &namespace, "replica-b", &[]).await;

    let first = eventually("a Lease holder", TIMEOUT, || holder(server, &namespace)).await;
    let (holding, other, other_pod) = if first.starts_with("replica-a-") {
        (&mut a, &mut b, "replica-b-")
    } else {
        assert!(first.starts_with("replica-b-"), "{first}");
        (&mut b, &mut a, "replica-a-")
    };
    // The holder writes the status; the other replica never does.
    let el = eventually("the status written by the holder", TIMEOUT, || {
        let el = event_listener(server, &namespace);
        status_writers(&el).contains(&first).then_some(el)
    })
    .await;
    let writers = status_writers(&el);
    assert!(
        !writers.iter().any(|w| w.starts_with(other_pod)),
        "only the holder writes: {writers:?}"
    );
    assert_eq!(holder(server, &namespace).as_deref(), Some(first.as_str()));

    // The holder stops: the other replica takes the Lease and writes the next change.
    holding.sigterm();
    let log = holding.rest_of_log().await;
    assert!(log.contains("status Lease released"), "{log}");
    let second = eventually(
        "the other replica holding the Lease",
        TAKEOVER_TIMEOUT,
        || holder(server, &namespace).filter(|h| h.starts_with(other_pod)),
    )
    .await;
    server.kubectl_stdin_ok(&["apply", "-n", &namespace, "-f", "-"], &template);
    eventually("the status written by the new holder", TIMEOUT, || {
        let el = event_listener(server, &namespace);
        (ready_condition(&el)["reason"] == "TriggersServing"
            && status_writers(&el).contains(&second))
        .then_some(())
    })
    .await;
    // The new holder still serves events.
    let reply = deliver(
        &other.url(),
        "pull_request",
        &fixture("pull_request.opened"),
        Some(DEV_SECRET),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);

    // Its log: it wrote the status only once it held the Lease.
    other.sigterm();
    let log = other.rest_of_log().await;
    let acquired = log
        .find("status Lease acquired")
        .expect("the takeover is logged");
    let written = log
        .find("EventListener status written")
        .expect("the write is logged");
    assert!(acquired < written, "{log}");
}

#[tokio::test]
async fn with_el_event_enabled_a_delivered_event_is_recorded_on_the_event_listener() {
    let Some(server) = api_server() else {
        return skipped(
            "with_el_event_enabled_a_delivered_event_is_recorded_on_the_event_listener",
        );
    };
    let namespace = server.new_namespace("el-event");
    let config_dir = repo_path("config");
    server.kubectl_ok(&[
        "apply",
        "-n",
        &namespace,
        "-f",
        config_dir.to_str().unwrap(),
    ]);
    let listener = serve_cluster(server, &namespace, "replica-a", &[("EL_EVENT", "enable")]).await;
    let url = listener.url();
    let body = fixture("pull_request.opened");
    ready(&url).await;
    let reply = deliver(&url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let reasons = [
        "dev.tekton.event.triggers.started.v1",
        "dev.tekton.event.triggers.successful.v1",
        "dev.tekton.event.triggers.done.v1",
    ];
    let recorded = eventually("started, successful and done Events", TIMEOUT, || {
        let recorded = events(server, &namespace);
        reasons
            .iter()
            .all(|r| recorded.iter().any(|e| e["reason"] == *r))
            .then_some(recorded)
    })
    .await;
    let successful = recorded
        .iter()
        .find(|e| e["reason"] == "dev.tekton.event.triggers.successful.v1")
        .unwrap();
    assert_eq!(successful["type"], "Normal");
    assert_eq!(successful["message"], "trigger pr-trigger");
    assert!(
        !recorded
            .iter()
            .any(|e| e["reason"] == "dev.tekton.event.triggers.failed.v1"),
        "{recorded:?}"
    );
}

/// Waits (bounded) until the listener at `url` has loaded its configuration (`/ready` is 200).
async fn ready(url: &str) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if crate::support::probe(url, "ready").await.0 == 200 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn each_event_tells_its_steps_and_a_full_notice_channel_never_holds_it() {
    use eventlistener::event::{EventNotice, NoticeKind};
    use eventlistener::sink::AppState;

    let (send, mut notices) = tokio::sync::mpsc::channel::<EventNotice>(16);
    let running =
        crate::support::start_configured(&[repo_path("config")], None, |state| AppState {
            notices: Some(send),
            ..state
        })
        .await;
    let reply = deliver(
        &running.url,
        "pull_request",
        &fixture("pull_request.opened"),
        Some(DEV_SECRET),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let mut told = Vec::new();
    while told.len() < 3 {
        let notice = tokio::time::timeout(TIMEOUT, notices.recv())
            .await
            .expect("a notice in time")
            .expect("the sender lives");
        told.push(notice);
    }
    let kinds: Vec<NoticeKind> = told.iter().map(|n| n.kind).collect();
    assert_eq!(
        kinds,
        [
            NoticeKind::Started,
            NoticeKind::Successful,
            NoticeKind::Done
        ]
    );
    assert!(told.iter().all(|n| n.event_id == reply.body["eventID"]));
    assert_eq!(told[1].message.as_deref(), Some("trigger pr-trigger"));

    // A body that is no JSON: the failure is told, with its reason.
    let reply = deliver(&running.url, "pull_request", b"{nope", Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let mut told = Vec::new();
    while told.len() < 3 {
        told.push(notices.recv().await.expect("the sender lives"));
    }
    assert_eq!(told[1].kind, NoticeKind::Failed);
    assert!(told[1].message.is_some(), "{told:?}");

    // Nobody reads a channel of one: events are still answered.
    let (send, _unread) = tokio::sync::mpsc::channel::<EventNotice>(1);
    let running =
        crate::support::start_configured(&[repo_path("config")], None, |state| AppState {
            notices: Some(send),
            ..state
        })
        .await;
    for _ in 0..3 {
        let reply = deliver(
            &running.url,
            "pull_request",
            &fixture("pull_request.opened"),
            Some(DEV_SECRET),
        )
        .await;
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
}

//! The default config against GitHub's own example payloads.

use serde_json::Value;

use crate::support::{DEV_SECRET, deliver, fixture, start_default};

fn param<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["spec"]["params"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .map_or(&Value::Null, |p| &p["value"])
}

/// Delivers a pull_request fixture and checks exactly what is created.
async fn pull_request_creates(fixture_name: &str, expected_pipeline: Option<&str>) {
    let listener = start_default().await;
    let body = fixture(fixture_name);
    let payload: Value = serde_json::from_slice(&body).unwrap();
    let reply = deliver(&listener.url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{fixture_name}: {}", reply.body);
    assert_eq!(reply.body["eventListener"], "chespirito-github-el");
    assert_eq!(reply.body["namespace"], "default");
    let event_id = reply.body["eventID"].as_str().expect("eventID").to_owned();
    let created = listener.created();
    let Some(pipeline) = expected_pipeline else {
        assert!(created.is_empty(), "{fixture_name} created {created:?}");
        return;
    };
    assert_eq!(created.len(), 1, "{fixture_name}: {created:?}");
    let run = &created[0];
    assert_eq!(run["apiVersion"], "tekton.dev/v1");
    assert_eq!(run["kind"], "PipelineRun");
    assert_eq!(run["spec"]["pipelineRef"]["name"], pipeline);
    let name = run["metadata"]["name"].as_str().unwrap();
    let suffix = name
        .strip_prefix(&format!("{pipeline}-"))
        .expect("generated name");
    // `deliver` sends an X-GitHub-Delivery: the suffix is derived from it.
    assert_eq!(
        suffix.len(),
        eventlistener::resources::IDEMPOTENT_SUFFIX_LEN,
        "{name}"
    );
    assert!(
        run["metadata"]["annotations"][eventlistener::resources::ANNOTATION_DELIVERY_ID]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{run}"
    );
    assert_eq!(run["metadata"]["namespace"], "default");
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
    assert_eq!(
        labels["triggers.tekton.dev/triggers-eventid"],
        event_id.as_str()
    );
    let trigger = if pipeline.contains("staging") {
        "pr-trigger"
    } else {
        "push-main-trigger"
    };
    assert_eq!(labels["triggers.tekton.dev/trigger"], trigger);
    assert_eq!(
        run["spec"]["taskRunTemplate"]["serviceAccountName"],
        "tekton-kubectl-service-account"
    );
    assert_eq!(run["spec"]["workspaces"][0]["name"], "shared-data");
    assert_eq!(
        run["spec"]["workspaces"][0]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"],
        "1Gi"
    );
}

#[tokio::test]
async fn opened_creates_a_staging_pipeline_run() {
    pull_request_creates("pull_request.opened", Some("chespirito-staging-pipeline")).await;
}

#[tokio::test]
async fn synchronize_creates_a_staging_pipeline_run() {
    pull_request_creates(
        "pull_request.synchronize",
        Some("chespirito-staging-pipeline"),
    )
    .await;
}

#[tokio::test]
async fn merged_close_creates_a_production_pipeline_run() {
    pull_request_creates(
        "pull_request.closed.merged",
        Some("chespirito-production-pipeline"),
    )
    .await;
}

#[tokio::test]
async fn unmerged_close_creates_nothing() {
    pull_request_creates("pull_request.closed.unmerged", None).await;
}

#[tokio::test]
async fn reopened_creates_nothing() {
    pull_request_creates("pull_request.reopened", None).await;
}

#[tokio::test]
async fn labeled_creates_nothing() {
    pull_request_creates("pull_request.labeled", None).await;
}

#[tokio::test]
async fn push_ping_and_issue_comment_create_nothing() {
    let listener = start_default().await;
    for (event, name) in [
        ("push", "push"),
        ("ping", "ping"),
        ("issue_comment", "issue_comment.created"),
    ] {
        let reply = deliver(&listener.url, event, &fixture(name), Some(DEV_SECRET)).await;
        assert_eq!(reply.status, 202, "{event}: {}", reply.body);
    }
    assert!(listener.created().is_empty());
}

#[tokio::test]
async fn each_delivery_gets_its_own_event_id_and_pipeline_run() {
    let listener = start_default().await;
    let body = fixture("pull_request.opened");
    let a = deliver(&listener.url, "pull_request", &body, Some(DEV_SECRET)).await;
    let b = deliver(&listener.url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_ne!(a.body["eventID"], b.body["eventID"]);
    let created = listener.created();
    assert_eq!(created.len(), 2);
    assert_ne!(
        created[0]["metadata"]["name"],
        created[1]["metadata"]["name"]
    );
}

#[tokio::test]
async fn probes_answer_ok() {
    let listener = start_default().await;
    for path in ["live", "ready"] {
        let (status, body) = crate::support::probe(&listener.url, path).await;
        assert_eq!(status, 200);
        if path == "live" {
            assert_eq!(body, "ok");
        } else {
            // Files are loaded once: an age, never "in sync" or "not in sync".
            let age = body
                .strip_prefix("ok: configuration loaded ")
                .and_then(|rest| rest.strip_suffix(" s ago"));
            assert!(age.is_some_and(|s| s.parse::<u64>().is_ok()), "{body}");
        }
    }
}

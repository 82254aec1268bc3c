//! Manifests that upstream accepts behave as upstream (issue 15): a template param that nothing
//! supplies, and a directory that keeps example payloads next to the manifests.

use serde_json::Value;

use crate::support::{DEV_SECRET, deliver, fixture, repo_path, run_binary, start};

/// The default trigger, whose template also declares `reviewer`: no binding gives it a value
/// and it has no default.
const UNSUPPLIED_PARAM: &str = r#"
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: literal
spec:
  triggers:
    - name: pr
      interceptors:
        - github:
            secretRef:
              secretName: gh
              secretKey: token
            eventTypes: [pull_request]
      bindings:
        - name: revision
          value: $(body.pull_request.head.sha)
      template:
        spec:
          params:
            - name: revision
            - name: reviewer
          resourcetemplates:
            - apiVersion: tekton.dev/v1
              kind: PipelineRun
              metadata:
                generateName: review-
              spec:
                pipelineRef:
                  name: review
                params:
                  - name: revision
                    value: $(tt.params.revision)
                  - name: reviewer
                    value: "by $(tt.params.reviewer)"
---
apiVersion: v1
kind: Secret
metadata:
  name: gh
stringData:
  token: s3cret
"#;

#[tokio::test]
async fn a_template_param_nothing_supplies_stays_literal_in_the_created_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("el.yaml");
    std::fs::write(&config, UNSUPPLIED_PARAM).unwrap();
    let listener = start(&[config]).await;
    let body = fixture("pull_request.opened");
    let reply = deliver(&listener.url, "pull_request", &body, Some("s3cret")).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let created = listener.created();
    assert_eq!(created.len(), 1);
    let payload: Value = serde_json::from_slice(&body).unwrap();
    let params = &created[0]["spec"]["params"];
    assert_eq!(params[0]["value"], payload["pull_request"]["head"]["sha"]);
    assert_eq!(params[1]["value"], "by $(tt.params.reviewer)");
}

#[tokio::test]
async fn a_directory_with_payloads_next_to_the_manifests_loads_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo_path("config")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let payload = dir.path().join("examples/pull_request.opened.json");
    std::fs::create_dir_all(payload.parent().unwrap()).unwrap();
    std::fs::write(&payload, fixture("pull_request.opened")).unwrap();
    let dir_arg = dir.path().to_str().unwrap();

    let validated = run_binary(&["validate", "-f", dir_arg]).await;
    assert_eq!(
        validated.code,
        Some(0),
        "{}{}",
        validated.stdout,
        validated.stderr
    );
    let output = format!("{}{}", validated.stdout, validated.stderr);
    let warning = output
        .lines()
        .find(|line| line.contains("pull_request.opened.json"))
        .unwrap_or_else(|| panic!("no line names the payload: {output}"));
    assert!(
        warning.contains("warning: skipped: not a Kubernetes object"),
        "{warning}"
    );

    // Served from the same directory, the payload is left out and the triggers run.
    let listener = start(&[dir.path().to_owned()]).await;
    let reply = deliver(
        &listener.url,
        "pull_request",
        &fixture("pull_request.opened"),
        Some(DEV_SECRET),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(listener.created().len(), 1);
}

/// A trigger group checks the signature and the event type once and adds an extension; the two
/// Triggers it selects by label filter on the action and read the group's extension; a third
/// Trigger, without the label, is not in the group and not selected by the EventListener.
const TRIGGER_GROUP: &str = r#"
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: grouped
spec:
  triggerGroups:
    - name: github-prs
      interceptors:
        - ref:
            name: github
          params:
            - name: secretRef
              value:
                secretName: gh
                secretKey: token
            - name: eventTypes
              value: [pull_request]
        - ref:
            name: cel
          params:
            - name: overlays
              value:
                - key: short_sha
                  expression: body.pull_request.head.sha.truncate(7)
      triggerSelector:
        labelSelector:
          matchLabels:
            group: prs
---
apiVersion: triggers.tekton.dev/v1beta1
kind: Trigger
metadata:
  name: opened
  labels:
    group: prs
spec:
  interceptors:
    - ref:
        name: cel
      params:
        - name: filter
          value: body.action == 'opened'
  bindings:
    - name: short
      value: $(extensions.short_sha)
    - name: action
      value: $(body.action)
  template:
    ref: run
---
apiVersion: triggers.tekton.dev/v1beta1
kind: Trigger
metadata:
  name: closed
  labels:
    group: prs
spec:
  interceptors:
    - ref:
        name: cel
      params:
        - name: filter
          value: body.action == 'closed'
  bindings:
    - name: short
      value: $(extensions.short_sha)
    - name: action
      value: $(body.action)
  template:
    ref: run
---
apiVersion: triggers.tekton.dev/v1beta1
kind: Trigger
metadata:
  name: outside
spec:
  bindings:
    - name: short
      value: outside
    - name: action
      value: outside
  template:
    ref: run
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata:
  name: run
spec:
  params:
    - name: short
    - name: action
  resourcetemplates:
    - apiVersion: tekton.dev/v1
      kind: PipelineRun
      metadata:
        generateName: pr-
      spec:
        pipelineRef:
          name: build
        params:
          - name: short
            value: $(tt.params.short)
          - name: action
            value: $(tt.params.action)
---
apiVersion: v1
kind: Secret
metadata:
  name: gh
stringData:
  token: s3cret
"#;

#[tokio::test]
async fn a_trigger_group_runs_its_chain_for_the_triggers_it_selects() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("el.yaml");
    std::fs::write(&config, TRIGGER_GROUP).unwrap();
    let listener = start(&[config]).await;
    let body = fixture("pull_request.opened");
    let payload: Value = serde_json::from_slice(&body).unwrap();
    let sha = payload["pull_request"]["head"]["sha"].as_str().unwrap();

    let reply = deliver(&listener.url, "pull_request", &body, Some("s3cret")).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let created = listener.created();
    assert_eq!(created.len(), 1, "{created:?}");
    let run = &created[0];
    assert_eq!(
        run["metadata"]["labels"]["triggers.tekton.dev/trigger"],
        "opened"
    );
    assert_eq!(run["spec"]["params"][0]["value"], &sha[..7]);
    assert_eq!(run["spec"]["params"][1]["value"], "opened");

    // The group's signature check stops every Trigger of the group.
    let reply = deliver(&listener.url, "pull_request", &body, Some("wrong")).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    // So does its event type filter.
    let reply = deliver(&listener.url, "issues", &body, Some("s3cret")).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(listener.created().len(), 1);
}

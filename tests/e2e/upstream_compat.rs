//! Manifests that upstream accepts behave as upstream (issue 15): a template param that nothing
//! supplies, a directory that keeps example payloads next to the manifests, trigger groups, and
//! the GitLab and Bitbucket setups of upstream's examples directory, end to end.

use serde_json::Value;

use eventlistener::event_listener::{Listener, LoadOptions};

use crate::support::{
    DEV_SECRET, Running, deliver, fixture, post, python_hmac_hex, repo_path, run_binary, start,
    start_listener,
};

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

/// An EventListener for each non-GitHub sender of upstream's examples: GitLab with its token,
/// Bitbucket Server with its signature, Bitbucket Cloud, which signs nothing, filtered on the
/// event key only. The Bitbucket Server binding picks the ssh clone link with a filter
/// expression.
const GIT_HOSTS: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: git-hosts
stringData:
  gitlab-token: gl-e2e-token-7c1
  bitbucket-secret: bb-e2e-secret-93d
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: gitlab
spec:
  triggers:
    - name: gitlab-push
      interceptors:
        - ref:
            name: gitlab
          params:
            - name: secretRef
              value:
                secretName: git-hosts
                secretKey: gitlab-token
            - name: eventTypes
              value: ["Push Hook"]
      bindings:
        - name: revision
          value: $(body.checkout_sha)
        - name: url
          value: $(body.repository.git_http_url)
      template:
        ref: checkout
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: bitbucket-server
spec:
  triggers:
    - name: bitbucket-server-push
      interceptors:
        - ref:
            name: bitbucket
          params:
            - name: secretRef
              value:
                secretName: git-hosts
                secretKey: bitbucket-secret
            - name: eventTypes
              value: ["repo:refs_changed"]
      bindings:
        - name: revision
          value: $(body.changes[0].ref.displayId)
        - name: url
          value: $(body.repository.links.clone[?(@.name=="ssh")].href)
      template:
        ref: checkout
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: bitbucket-cloud
spec:
  triggers:
    - name: bitbucket-cloud-push
      interceptors:
        - ref:
            name: bitbucket
          params:
            - name: eventTypes
              value: ["repo:push"]
      bindings:
        - name: revision
          value: $(body.push.changes[0].new.name)
        - name: url
          value: $(body.repository.links.html.href)
      template:
        ref: checkout
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata:
  name: checkout
spec:
  params:
    - name: revision
    - name: url
  resourcetemplates:
    - apiVersion: tekton.dev/v1
      kind: TaskRun
      metadata:
        generateName: checkout-
      spec:
        taskRef:
          name: git-clone
        params:
          - name: revision
            value: $(tt.params.revision)
          - name: url
            value: $(tt.params.url)
"#;

/// A GitLab push hook in the shape GitLab documents, with our own values.
const GITLAB_PUSH: &str = r#"{"object_kind":"push","event_name":"push",
"before":"95790bf891e76fee5e1747ab589903a6a1f80f22",
"after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","ref":"refs/heads/develop",
"checkout_sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","user_name":"Quico",
"project":{"id":15,"name":"vecindad","path_with_namespace":"chavo/vecindad"},
"repository":{"name":"vecindad","url":"git@gitlab.example.com:chavo/vecindad.git",
"git_http_url":"https://gitlab.example.com/chavo/vecindad.git",
"git_ssh_url":"git@gitlab.example.com:chavo/vecindad.git"},
"commits":[{"id":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","message":"Barril\n"}],
"total_commits_count":1}"#;

/// A Bitbucket Server `repo:refs_changed` event, with our own values.
const BITBUCKET_SERVER_PUSH: &str = r#"{"eventKey":"repo:refs_changed","date":"2026-12-04T10:00:00+0000",
"actor":{"name":"florinda"},"repository":{"slug":"tienda","project":{"key":"VEC"},
"links":{"clone":[{"href":"https://bitbucket.example.com/scm/vec/tienda.git","name":"http"},
{"href":"ssh://git@bitbucket.example.com:7999/vec/tienda.git","name":"ssh"}]}},
"changes":[{"ref":{"id":"refs/heads/release-7","displayId":"release-7","type":"BRANCH"},
"fromHash":"0000000000000000000000000000000000000000",
"toHash":"8c1d2a0e5b7f4c3d9e6a1b2c3d4e5f60718293a4","type":"ADD"}]}"#;

/// A Bitbucket Cloud `repo:push` event, with our own values.
const BITBUCKET_CLOUD_PUSH: &str = r#"{"actor":{"display_name":"Don Ramon"},
"repository":{"name":"tienda","full_name":"vecindad/tienda",
"links":{"html":{"href":"https://bitbucket.org/vecindad/tienda"}}},
"push":{"changes":[{"old":{"type":"branch","name":"main"},
"new":{"type":"branch","name":"torta-de-jamon","target":{"hash":"4b1d"}}}]}}"#;

/// The runs created by `trigger`, as (revision, url).
fn runs_of(created: &[Value], trigger: &str) -> Vec<(String, String)> {
    created
        .iter()
        .filter(|o| o["metadata"]["labels"]["triggers.tekton.dev/trigger"] == trigger)
        .map(|o| {
            let param = |i: usize| o["spec"]["params"][i]["value"].as_str().unwrap().to_owned();
            (param(0), param(1))
        })
        .collect()
}

/// Serves the EventListener `name` of [`GIT_HOSTS`].
async fn start_git_host(dir: &tempfile::TempDir, name: &str) -> Running {
    let config = dir.path().join("git-hosts.yaml");
    std::fs::write(&config, GIT_HOSTS).unwrap();
    let listener = Listener::load(&LoadOptions {
        paths: vec![config],
        listener: Some(name.to_owned()),
        ..LoadOptions::default()
    })
    .unwrap();
    start_listener(listener, None, |state| state).await
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[tokio::test]
async fn a_gitlab_push_hook_with_its_token_creates_as_upstreams_example_does() {
    let dir = tempfile::tempdir().unwrap();
    let listener = start_git_host(&dir, "gitlab").await;
    let gitlab = |token: &'static str, event: &'static str| {
        [JSON, ("X-Gitlab-Token", token), ("X-Gitlab-Event", event)]
    };
    let body = GITLAB_PUSH.as_bytes();
    let reply = post(
        &listener.url,
        &gitlab("gl-e2e-token-7c1", "Push Hook"),
        body,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let created = listener.created();
    assert_eq!(
        runs_of(&created, "gitlab-push"),
        [(
            "da1560886d4f094c3e6c9ef40349f7d38b5d27d7".to_owned(),
            "https://gitlab.example.com/chavo/vecindad.git".to_owned()
        )]
    );
    // A wrong or missing token is refused; another event type is filtered.
    let reply = post(
        &listener.url,
        &gitlab("gl-e2e-token-7c2", "Push Hook"),
        body,
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let reply = post(
        &listener.url,
        &[JSON, ("X-Gitlab-Event", "Push Hook")],
        body,
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let reply = post(
        &listener.url,
        &gitlab("gl-e2e-token-7c1", "Tag Push Hook"),
        body,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(listener.created().len(), 1);
}

#[tokio::test]
async fn a_signed_bitbucket_server_push_creates_as_upstreams_example_does() {
    let dir = tempfile::tempdir().unwrap();
    let listener = start_git_host(&dir, "bitbucket-server").await;
    let body = BITBUCKET_SERVER_PUSH.as_bytes();
    let post_signed = |event: &'static str, signature: String| {
        let url = listener.url.clone();
        async move {
            let headers = [
                JSON,
                ("X-Event-Key", event),
                ("X-Hub-Signature", signature.as_str()),
            ];
            post(&url, &headers, body).await
        }
    };
    // `X-Hub-Signature` with sha1 (upstream's example) or sha256, computed by Python; the
    // binding's filter picks the ssh link.
    for digest in ["sha1", "sha256"] {
        let signature = format!(
            "{digest}={}",
            python_hmac_hex(digest, "bb-e2e-secret-93d", body)
        );
        let reply = post_signed("repo:refs_changed", signature).await;
        assert_eq!(reply.status, 202, "{digest}: {}", reply.body);
    }
    let expected = (
        "release-7".to_owned(),
        "ssh://git@bitbucket.example.com:7999/vec/tienda.git".to_owned(),
    );
    assert_eq!(
        runs_of(&listener.created(), "bitbucket-server-push"),
        [expected.clone(), expected]
    );
    // A signature with another secret is refused; another event key is filtered.
    let forged = format!("sha1={}", python_hmac_hex("sha1", "not-the-secret", body));
    let reply = post_signed("repo:refs_changed", forged).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let signature = format!(
        "sha1={}",
        python_hmac_hex("sha1", "bb-e2e-secret-93d", body)
    );
    let reply = post_signed("pr:opened", signature).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(listener.created().len(), 2);
}

#[tokio::test]
async fn an_unsigned_bitbucket_cloud_push_is_taken_on_its_event_key_alone() {
    let dir = tempfile::tempdir().unwrap();
    let listener = start_git_host(&dir, "bitbucket-cloud").await;
    let body = BITBUCKET_CLOUD_PUSH.as_bytes();
    let reply = post(&listener.url, &[JSON, ("X-Event-Key", "repo:push")], body).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let reply = post(&listener.url, &[JSON, ("X-Event-Key", "repo:fork")], body).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        runs_of(&listener.created(), "bitbucket-cloud-push"),
        [(
            "torta-de-jamon".to_owned(),
            "https://bitbucket.org/vecindad/tienda".to_owned()
        )]
    );
    assert_eq!(listener.created().len(), 1);
}

#[tokio::test]
async fn a_github_delivery_signed_by_pythons_hmac_is_accepted_and_a_forged_one_refused() {
    let listener = start(&[repo_path("config")]).await;
    let body = fixture("pull_request.opened");
    let headers = |signature: &str| {
        vec![
            ("Content-Type", "application/json".to_owned()),
            ("X-GitHub-Event", "pull_request".to_owned()),
            ("X-GitHub-Delivery", uuid::Uuid::new_v4().to_string()),
            ("X-Hub-Signature-256", signature.to_owned()),
        ]
    };
    let send = |headers: Vec<(&'static str, String)>| {
        let url = listener.url.clone();
        let body = body.clone();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(&url, &headers, &body).await
        }
    };
    let signed = format!("sha256={}", python_hmac_hex("sha256", DEV_SECRET, &body));
    let accepted = send(headers(&signed)).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    assert_eq!(listener.created().len(), 1);
    let forged = format!(
        "sha256={}",
        python_hmac_hex("sha256", "not-the-secret", &body)
    );
    let refused = send(headers(&forged)).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        listener.created().len(),
        1,
        "nothing created for a forged signature"
    );
}

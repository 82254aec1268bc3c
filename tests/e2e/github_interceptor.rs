//! The github interceptor's `addChangedFiles` and `githubOwners` (reference §4.1 steps 4–5)
//! with the real listener (`serve --github-api-url`) calling a local GitHub REST API double, on
//! GitHub's own payloads (`fixtures/github`, from `@octokit/webhooks-examples`). Where a case
//! needs what the example lacks (several commits, a `/ok-to-test` comment), the test changes
//! only that field and says so.

use eventlistener::interceptors::signature::sign_sha256;
use serde_json::{Value, json};

use crate::support::github_api::{GitHubApi, Recorded, Reply, RunningGitHubApi};
use crate::support::{
    DEV_SECRET, Reply as Answer, Spawned, TIMEOUT, created_in, deliver, fixture, run_binary,
    spawn_serve,
};

const WEBHOOK_SECRET: &str = "e2e-github-api-webhook-secret";
const TOKEN: &str = "ghp_e2eDoubleToken0123456789abcdef";
const FILES_PATH: &str = "/repos/Codertocat/Hello-World/pulls/2/files";
const MEMBERS_PATH: &str = "/orgs/Codertocat/public_members";
const COLLABORATORS_PATH: &str = "/repos/Codertocat/Hello-World/collaborators";
const OWNERS_PATH: &str = "/repos/Codertocat/Hello-World/contents/OWNERS";

/// An EventListener with one trigger: github with `secretRef` and `github_params` (YAML list
/// items at the params' indentation), binding `value` from `binding`, creating a ConfigMap
/// with `data.value`.
fn config(github_params: &str, binding: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: github
stringData:
  webhook: {WEBHOOK_SECRET}
  token: {TOKEN}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: github-api-el
spec:
  triggers:
    - name: gh
      interceptors:
        - ref:
            name: github
          params:
            - name: secretRef
              value:
                secretName: github
                secretKey: webhook
{github_params}
      bindings:
        - name: value
          value: {binding}
      template:
        ref: record
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata:
  name: record
spec:
  params:
    - name: value
  resourcetemplates:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        generateName: gh-
      data:
        value: $(tt.params.value)
"#
    )
}

/// `addChangedFiles` with the token; the ConfigMap holds `changed_files`.
fn changed_files_config() -> String {
    config(
        "            - name: addChangedFiles
              value:
                enabled: true
                personalAccessToken:
                  secretName: github
                  secretKey: token",
        "$(extensions.changed_files)",
    )
}

/// `githubOwners` with `checkType` (and the token when `token`); the ConfigMap holds the sender.
fn owners_config(check_type: &str, token: bool) -> String {
    let token = if token {
        "\n                personalAccessToken:\n                  secretName: github\n                  secretKey: token"
    } else {
        ""
    };
    config(
        &format!(
            "            - name: githubOwners
              value:
                enabled: true
                checkType: {check_type}{token}"
        ),
        "$(body.sender.login)",
    )
}

/// `serve` on `config` with a dir sink, calling `api`.
struct Listening {
    spawned: Spawned,
    out: tempfile::TempDir,
    _config: tempfile::TempDir,
}

impl Listening {
    async fn start(config: &str, api: &RunningGitHubApi) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("listener.yaml");
        std::fs::write(&path, config).expect("config written");
        let out = tempfile::tempdir().expect("tempdir");
        let sink = format!("dir:{}", out.path().display());
        let spawned = spawn_serve(
            &[
                "-f",
                path.to_str().expect("UTF-8 path"),
                "--sink",
                &sink,
                "--drain-delay",
                "0",
                "--github-api-url",
                &api.url,
            ],
            &[],
        )
        .await;
        Self {
            spawned,
            out,
            _config: dir,
        }
    }

    async fn send(&self, event: &str, body: &Value) -> Answer {
        let bytes = serde_json::to_vec(body).expect("JSON");
        deliver(&self.spawned.url(), event, &bytes, Some(WEBHOOK_SECRET)).await
    }

    /// `data.value` of every ConfigMap created so far.
    fn values(&self) -> Vec<String> {
        created_in(self.out.path())
            .iter()
            .map(|o| o["data"]["value"].as_str().expect("data.value").to_owned())
            .collect()
    }
}

fn payload(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

/// The one trigger's outcome and reason in the answer.
fn outcome(answer: &Answer) -> (u16, &str, &str) {
    let trigger = &answer.body["triggers"][0];
    (
        answer.status,
        trigger["outcome"].as_str().unwrap_or_default(),
        trigger["reason"].as_str().unwrap_or_default(),
    )
}

fn users(logins: &[&str]) -> Reply {
    Reply::Json(
        logins
            .iter()
            .map(|l| json!({"login": l, "type": "User"}))
            .collect(),
    )
}

#[tokio::test]
async fn push_changed_files_come_from_the_payload_in_order_with_duplicates() {
    let api = GitHubApi::new().with_token(TOKEN).start().await;
    let el = Listening::start(&changed_files_config(), &api).await;
    let push = payload("push");
    let answer = el.send("push", &push).await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    // The example's one commit adds README.md. A second commit (a copy of the first with other
    // lists) shows the order: per commit, added, modified, removed; duplicates kept.
    let mut two_commits = push.clone();
    let mut second = push["commits"][0].clone();
    second["added"] = json!(["docs/a.md"]);
    second["modified"] = json!(["README.md", "src/main.rs"]);
    second["removed"] = json!(["old.txt"]);
    two_commits["commits"]
        .as_array_mut()
        .expect("commits")
        .push(second);
    let answer = el.send("push", &two_commits).await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    let mut values = el.values();
    values.sort();
    assert_eq!(
        values,
        [
            "README.md",
            "README.md,docs/a.md,README.md,src/main.rs,old.txt"
        ]
    );
    assert_eq!(api.recorded(), [], "a push needs no API call");
}

#[tokio::test]
async fn pull_request_changed_files_are_read_from_every_page_with_the_token() {
    let first: Vec<Value> = (0..100)
        .map(|i| json!({"filename": format!("src/f{i:03}.rs"), "status": "modified"}))
        .collect();
    let api = GitHubApi::new()
        .with_token(TOKEN)
        .route(
            FILES_PATH,
            Reply::Pages(vec![
                Value::Array(first),
                json!([{"filename": "README.md"}, {"filename": "docs/guide.md"}]),
            ]),
        )
        .start()
        .await;
    let el = Listening::start(&changed_files_config(), &api).await;
    let answer = el
        .send("pull_request", &payload("pull_request.opened"))
        .await;
    assert_eq!(outcome(&answer).1, "created", "{:?}", answer.body);
    let mut want: Vec<String> = (0..100).map(|i| format!("src/f{i:03}.rs")).collect();
    want.extend(["README.md".into(), "docs/guide.md".into()]);
    assert_eq!(el.values(), [want.join(",")]);
    let bearer = Some(format!("Bearer {TOKEN}"));
    assert_eq!(
        api.recorded(),
        [
            Recorded {
                target: format!("{FILES_PATH}?per_page=100"),
                authorization: bearer.clone(),
            },
            Recorded {
                target: format!("{FILES_PATH}?per_page=100&page=2"),
                authorization: bearer,
            },
        ]
    );
}

#[tokio::test]
async fn a_spent_rate_limit_fails_the_trigger_with_go_githubs_text_for_a_retry() {
    let api = GitHubApi::new()
        .route(FILES_PATH, Reply::RateLimited)
        .start()
        .await;
    let el = Listening::start(&changed_files_config(), &api).await;
    let answer = el
        .send("pull_request", &payload("pull_request.opened"))
        .await;
    let (status, outcome, reason) = outcome(&answer);
    assert_eq!((status, outcome), (503, "failed"), "{:?}", answer.body);
    let want = format!(
        "error getting changed files: GET {}{FILES_PATH}?per_page=100: 403 API rate limit exceeded for 127.0.0.1.",
        api.url
    );
    assert!(reason.contains(&want), "{reason}");
    assert!(reason.contains("[rate reset in 4m"), "{reason}");
    assert_eq!(
        answer.body["errorMessage"],
        "the GitHub API failed for a github interceptor; retry the delivery (details in the listener log under this eventID)"
    );
    assert!(el.values().is_empty());
}

#[tokio::test]
async fn an_api_that_never_answers_fails_the_trigger_at_the_deadline() {
    let api = GitHubApi::new()
        .route(MEMBERS_PATH, Reply::Never)
        .start()
        .await;
    let el = Listening::start(&owners_config("orgMembers", true), &api).await;
    let answer = el
        .send("pull_request", &payload("pull_request.opened"))
        .await;
    let (status, outcome, reason) = outcome(&answer);
    assert_eq!((status, outcome), (503, "failed"), "{:?}", answer.body);
    assert!(
        reason.contains("error checking owner verification: context deadline exceeded (after 3s)"),
        "{reason}"
    );
    assert_eq!(api.targets(), [MEMBERS_PATH]);
}

#[tokio::test]
async fn org_members_pass_and_others_need_an_owners_file() {
    let api = GitHubApi::new()
        .with_token(TOKEN)
        .route(MEMBERS_PATH, users(&["octocat", "Codertocat"]))
        .start()
        .await;
    let el = Listening::start(&owners_config("orgMembers", true), &api).await;
    let answer = el
        .send("pull_request", &payload("pull_request.opened"))
        .await;
    assert_eq!(outcome(&answer).1, "created", "{:?}", answer.body);
    assert_eq!(el.values(), ["Codertocat"]);
    assert_eq!(api.targets(), [MEMBERS_PATH], "allowed: OWNERS is not read");

    // Not a public member, and no OWNERS file (404): not allowed, not an error.
    let api = GitHubApi::new()
        .with_token(TOKEN)
        .route(MEMBERS_PATH, users(&["octocat"]))
        .start()
        .await;
    let el = Listening::start(&owners_config("orgMembers", true), &api).await;
    let answer = el
        .send("pull_request", &payload("pull_request.opened"))
        .await;
    assert_eq!(
        outcome(&answer),
        (
            202,
            "filtered",
            "interceptor github: owners check requirements not met"
        )
    );
    assert_eq!(api.targets(), [MEMBERS_PATH, OWNERS_PATH]);
    assert!(el.values().is_empty());
}

#[tokio::test]
async fn repo_members_are_collaborators_and_all_falls_through_to_owners() {
    let api = GitHubApi::new()
        .with_token(TOKEN)
        .route(COLLABORATORS_PATH, users(&["Codertocat"]))
        .start()
        .await;
    let el = Listening::start(&owners_config("repoMembers", true), &api).await;
    let answer = el
        .send("pull_request", &payload("pull_request.opened"))
        .await;
    assert_eq!(outcome(&answer).1, "created", "{:?}", answer.body);
    assert_eq!(api.targets(), [COLLABORATORS_PATH], "orgs not asked");

    // `all`: the owner is a user (orgs 404), not a collaborator, listed in OWNERS in
    // another case.
    let api = GitHubApi::new()
        .with_token(TOKEN)
        .route(COLLABORATORS_PATH, users(&["octocat"]))
        .route(
            OWNERS_PATH,
            Reply::File("approvers:\n  - codertocat\nreviewers:\n  - octocat\n".into()),
        )
        .start()
        .await;
    let el = Listening::start(&owners_config("all", true), &api).await;
    let answer = el
        .send("pull_request", &payload("pull_request.opened"))
        .await;
    assert_eq!(outcome(&answer).1, "created", "{:?}", answer.body);
    assert_eq!(
        api.targets(),
        [MEMBERS_PATH, COLLABORATORS_PATH, OWNERS_PATH]
    );
}

#[tokio::test]
async fn check_type_none_reads_owners_without_a_token_and_a_missing_file_refuses() {
    let api = GitHubApi::new()
        .route(OWNERS_PATH, Reply::File("reviewers: [CODERTOCAT]\n".into()))
        .start()
        .await;
    let el = Listening::start(&owners_config("none", false), &api).await;
    let answer = el
        .send("pull_request", &payload("pull_request.opened"))
        .await;
    assert_eq!(outcome(&answer).1, "created", "{:?}", answer.body);
    assert_eq!(
        api.recorded(),
        [Recorded {
            target: OWNERS_PATH.into(),
            authorization: None
        }]
    );

    let api = GitHubApi::new()
        .route(OWNERS_PATH, Reply::NotFound)
        .start()
        .await;
    let el = Listening::start(&owners_config("none", false), &api).await;
    let answer = el
        .send("pull_request", &payload("pull_request.opened"))
        .await;
    assert_eq!(
        outcome(&answer),
        (
            202,
            "filtered",
            "interceptor github: owners check requirements not met"
        )
    );
    assert_eq!(api.targets(), [OWNERS_PATH]);
}

#[tokio::test]
async fn a_check_type_without_a_token_refuses_owner_events_without_calling_github() {
    let api = GitHubApi::new().start().await;
    let el = Listening::start(&owners_config("orgMembers", false), &api).await;
    let answer = el
        .send("pull_request", &payload("pull_request.opened"))
        .await;
    assert_eq!(
        outcome(&answer),
        (
            202,
            "filtered",
            "interceptor github: checkType is set to check org or repo members but no personalAccessToken was supplied"
        )
    );
    // Other events are not the owners check's business.
    let answer = el.send("push", &payload("push")).await;
    assert_eq!(outcome(&answer).1, "created", "{:?}", answer.body);
    assert_eq!(api.recorded(), []);
}

#[tokio::test]
async fn a_token_the_api_refuses_fails_the_trigger() {
    let api = GitHubApi::new()
        .with_token("another-token")
        .route(COLLABORATORS_PATH, users(&["Codertocat"]))
        .start()
        .await;
    let el = Listening::start(&owners_config("repoMembers", true), &api).await;
    let answer = el
        .send("pull_request", &payload("pull_request.opened"))
        .await;
    let (status, outcome, reason) = outcome(&answer);
    assert_eq!((status, outcome), (503, "failed"), "{:?}", answer.body);
    let want = format!(
        "error checking owner verification: GET {}{COLLABORATORS_PATH}: 401 Bad credentials []",
        api.url
    );
    assert!(reason.contains(&want), "{reason}");
}

#[tokio::test]
async fn an_ok_to_test_line_from_an_allowed_commenter_runs_the_trigger() {
    let api = GitHubApi::new()
        .with_token(TOKEN)
        .route(COLLABORATORS_PATH, users(&["Codertocat"]))
        .start()
        .await;
    let el = Listening::start(&owners_config("repoMembers", true), &api).await;
    let comment = |body: &str| {
        let mut event = payload("issue_comment.created");
        event["comment"]["body"] = json!(body);
        event
    };
    // The example's own comment has no /ok-to-test line.
    let answer = el
        .send("issue_comment", &payload("issue_comment.created"))
        .await;
    assert_eq!(outcome(&answer).1, "filtered", "{:?}", answer.body);
    let answer = el.send("issue_comment", &comment("/ok-to-test ")).await;
    assert_eq!(
        outcome(&answer).1,
        "filtered",
        "trailing space: {:?}",
        answer.body
    );
    let answer = el
        .send(
            "issue_comment",
            &comment("Looks safe.\r\n/ok-to-test\r\nthanks"),
        )
        .await;
    assert_eq!(outcome(&answer).1, "created", "{:?}", answer.body);
    assert_eq!(el.values(), ["Codertocat"]);

    // The same comment from someone who is not a collaborator and not in OWNERS.
    let api = GitHubApi::new()
        .with_token(TOKEN)
        .route(COLLABORATORS_PATH, users(&["octocat"]))
        .start()
        .await;
    let el = Listening::start(&owners_config("repoMembers", true), &api).await;
    let answer = el.send("issue_comment", &comment("/ok-to-test")).await;
    assert_eq!(
        outcome(&answer),
        (
            202,
            "filtered",
            "interceptor github: owners check requirements not met"
        )
    );
    assert_eq!(api.targets(), [COLLABORATORS_PATH, OWNERS_PATH]);
}

#[tokio::test]
async fn the_api_url_flag_wins_over_the_enterprise_host_header() {
    let api = GitHubApi::new()
        .with_token(TOKEN)
        .route(
            FILES_PATH,
            Reply::Pages(vec![json!([{"filename": "a.rs"}])]),
        )
        .start()
        .await;
    let el = Listening::start(&changed_files_config(), &api).await;
    let body = fixture("pull_request.opened");
    let response = reqwest::Client::new()
        .post(el.spawned.url())
        .timeout(TIMEOUT)
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", "pull_request")
        .header("X-Github-Enterprise-Host", "ghe.invalid")
        .header(
            "X-Hub-Signature-256",
            sign_sha256(WEBHOOK_SECRET.as_bytes(), &body),
        )
        .body(body)
        .send()
        .await
        .expect("request sent");
    let answer = Answer::read(response).await;
    assert_eq!(outcome(&answer).1, "created", "{:?}", answer.body);
    assert_eq!(el.values(), ["a.rs"]);
    assert_eq!(api.targets(), [format!("{FILES_PATH}?per_page=100")]);
}

#[tokio::test]
async fn triggerrun_calls_the_api_url_it_is_given() {
    let api = GitHubApi::new()
        .with_token(TOKEN)
        .route(
            FILES_PATH,
            Reply::Pages(vec![
                json!([{"filename": "a.rs"}]),
                json!([{"filename": "b.rs"}]),
            ]),
        )
        .start()
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trigger.yaml");
    // The raw request files are signed with the development secret.
    std::fs::write(
        &path,
        changed_files_config().replace(WEBHOOK_SECRET, DEV_SECRET),
    )
    .expect("config written");
    let output = run_binary(&[
        "triggerrun",
        "-t",
        path.to_str().expect("UTF-8 path"),
        "-r",
        "fixtures/http/pull_request.opened.http",
        "--github-api-url",
        &api.url,
    ])
    .await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let created: Value = serde_json::from_str(&output.stdout).expect("JSON output");
    assert_eq!(created[0]["data"]["value"], "a.rs,b.rs", "{created}");
    assert_eq!(api.recorded().len(), 2);
}

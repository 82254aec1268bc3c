//! Catch-up (issue 16) against a double of GitHub that really delivers (support/github_hooks.rs):
//! deliveries fail while the listener is down or answers 5xx; `eventlistener catch-up` then
//! redelivers exactly those, oldest first, each once, never one the listener refused for
//! authentication, and the listener creates each PipelineRun once.

use std::path::Path;

use crate::support::github_hooks::{APP_HOOK, APP_ID, GitHubHooks, REPO_HOOK};
use crate::support::{
    BinaryOutput, DEV_SECRET, TIMEOUT, created_in, fixture, nothing_listens, run_binary, sample,
    scrape, serve_router, spawn_serve, start_default,
};

const TOKEN: &str = "ghp_catch_up_test_token";

/// A server that answers every request 503, as a listener behind a broken rollout might.
async fn answers_503() -> (String, tokio::sync::oneshot::Sender<()>) {
    let (url, stop) = serve_router(|_| {
        axum::Router::new().fallback(|| async { axum::http::StatusCode::SERVICE_UNAVAILABLE })
    })
    .await;
    (format!("{url}/"), stop)
}

/// `catch-up --hook HOOK --github-api-url URL --pace 0s` with the token in a file, plus `extra`.
async fn catch_up(github: &GitHubHooks, dir: &Path, hook: &str, extra: &[&str]) -> BinaryOutput {
    let token = dir.join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("token written");
    let token = token.to_str().expect("UTF-8 path").to_owned();
    let mut args = vec![
        "catch-up",
        "--hook",
        hook,
        "--github-api-url",
        &github.url,
        "--github-token-file",
        &token,
        "--pace",
        "0s",
    ];
    args.extend_from_slice(extra);
    run_binary(&args).await
}

/// The PipelineRuns' names the listener created.
fn names(created: &[serde_json::Value]) -> Vec<String> {
    let mut names: Vec<String> = created
        .iter()
        .map(|o| o["metadata"]["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn one_pass_redelivers_exactly_the_failed_deliveries_oldest_first_and_a_second_nothing() {
    let listener = start_default().await;
    let (unavailable, _stop) = answers_503().await;
    let github = GitHubHooks::start(&nothing_listens().await, DEV_SECRET, TOKEN).await;
    github.set_page_size(2);
    let body = fixture("pull_request.opened");
    let down = github.deliver(REPO_HOOK, "pull_request", &body).await;
    github.set_target(&listener.url);
    let delivered = github.deliver(REPO_HOOK, "pull_request", &body).await;
    github.set_secret("not-the-secret");
    let refused = github.deliver(REPO_HOOK, "pull_request", &body).await;
    github.set_secret(DEV_SECRET);
    github.set_target(&unavailable);
    let failed = github.deliver(REPO_HOOK, "pull_request", &body).await;
    github.set_target(&nothing_listens().await);
    let down_again = github.deliver(REPO_HOOK, "pull_request", &body).await;
    github.set_target(&listener.url);
    let statuses: Vec<u16> = [&down, &delivered, &refused, &failed, &down_again]
        .iter()
        .map(|a| a.status_code)
        .collect();
    assert_eq!(statuses, [0, 202, 403, 503, 0]);
    assert_eq!(listener.created().len(), 1);

    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let state = state.to_str().expect("UTF-8 path");
    let first = catch_up(&github, dir.path(), "repo:octo/app:1", &["--state", state]).await;
    assert_eq!(first.code, Some(0), "{}\n{}", first.stdout, first.stderr);
    assert_eq!(
        github.redelivered(),
        [down.id, failed.id, down_again.id],
        "the failed ones, oldest first, each once"
    );
    let row = |guid: &str| {
        first
            .stdout
            .lines()
            .find(|l| l.contains(guid))
            .unwrap_or_else(|| panic!("a row for {guid}:\n{}", first.stdout))
            .to_owned()
    };
    assert!(
        row(&down.guid).ends_with("redelivered"),
        "{}",
        row(&down.guid)
    );
    assert!(row(&delivered.guid).ends_with("delivered"));
    assert!(
        row(&refused.guid).ends_with("not redelivered: refused with 403"),
        "{}",
        row(&refused.guid)
    );
    assert!(
        first
            .stdout
            .contains("# repo:octo/app:1: 5 listed, 3 redelivered"),
        "{}",
        first.stdout
    );
    assert!(
        github
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /repos/octo/app/hooks/1/deliveries?per_page=100&cursor=")),
        "the log was read page by page: {:?}",
        github.requests()
    );
    let created = listener.created();
    assert_eq!(created.len(), 4, "one PipelineRun per delivered event");
    let mut unique = names(&created);
    unique.dedup();
    assert_eq!(unique.len(), 4);

    let second = catch_up(&github, dir.path(), "repo:octo/app:1", &["--state", state]).await;
    assert_eq!(second.code, Some(0), "{}\n{}", second.stdout, second.stderr);
    assert_eq!(github.redelivered().len(), 3, "nothing redelivered twice");
    assert!(second.stdout.contains("0 redelivered"), "{}", second.stdout);
    assert_eq!(listener.created().len(), 4);
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_the_state_carries_over_to_the_next_run() {
    let listener = start_default().await;
    let github = GitHubHooks::start(&nothing_listens().await, DEV_SECRET, TOKEN).await;
    let body = fixture("pull_request.opened");
    let first = github.deliver(REPO_HOOK, "pull_request", &body).await;
    github.set_target(&listener.url);
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().expect("UTF-8 path");

    let dry = catch_up(
        &github,
        dir.path(),
        "repo:octo/app:1",
        &["--state", state_arg, "--dry-run"],
    )
    .await;
    assert_eq!(dry.code, Some(0), "{}\n{}", dry.stdout, dry.stderr);
    assert!(dry.stdout.contains("would redeliver"), "{}", dry.stdout);
    assert!(github.redelivered().is_empty());
    assert!(!state.exists(), "a dry run writes no state");
    assert!(listener.created().is_empty());

    let real = catch_up(
        &github,
        dir.path(),
        "repo:octo/app:1",
        &["--state", state_arg],
    )
    .await;
    assert_eq!(real.code, Some(0), "{}\n{}", real.stdout, real.stderr);
    assert_eq!(github.redelivered(), [first.id]);
    assert!(state.exists());

    // Down again for one more delivery; the next run (a new process) starts from the state.
    github.set_target(&nothing_listens().await);
    let second = github.deliver(REPO_HOOK, "pull_request", &body).await;
    github.set_target(&listener.url);
    let next = catch_up(
        &github,
        dir.path(),
        "repo:octo/app:1",
        &["--state", state_arg],
    )
    .await;
    assert_eq!(next.code, Some(0), "{}\n{}", next.stdout, next.stderr);
    assert_eq!(github.redelivered(), [first.id, second.id]);
    assert_eq!(listener.created().len(), 2);
}

#[tokio::test]
async fn a_rate_limited_redelivery_is_waited_out_and_sent_again() {
    let listener = start_default().await;
    let github = GitHubHooks::start(&nothing_listens().await, DEV_SECRET, TOKEN).await;
    let body = fixture("pull_request.opened");
    let down = github.deliver(REPO_HOOK, "pull_request", &body).await;
    github.set_target(&listener.url);
    github.rate_limit_next_posts(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = catch_up(&github, dir.path(), "repo:octo/app:1", &[]).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let posts: Vec<String> = github
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("POST "))
        .collect();
    assert_eq!(
        posts,
        [
            format!(
                "POST /repos/octo/app/hooks/1/deliveries/{}/attempts",
                down.id
            ),
            format!(
                "POST /repos/octo/app/hooks/1/deliveries/{}/attempts",
                down.id
            ),
        ]
    );
    assert_eq!(github.redelivered(), [down.id]);
    assert_eq!(listener.created().len(), 1);
}

#[tokio::test]
async fn the_app_hook_is_read_as_the_app_with_a_jwt_its_key_signed() {
    let listener = start_default().await;
    let github = GitHubHooks::start(&nothing_listens().await, DEV_SECRET, TOKEN).await;
    let body = fixture("pull_request.opened");
    let down = github.deliver(APP_HOOK, "pull_request", &body).await;
    github.set_target(&listener.url);
    let dir = tempfile::tempdir().expect("tempdir");
    let key = "tests/fixtures/github-app-test-key.pem";

    let wrong = catch_up(
        &github,
        dir.path(),
        "app",
        &["--github-app-id", "1", "--github-app-key-file", key],
    )
    .await;
    assert_eq!(wrong.code, Some(1), "{}\n{}", wrong.stdout, wrong.stderr);
    assert!(
        wrong.stderr.contains("401 Bad credentials"),
        "{}",
        wrong.stderr
    );
    assert!(github.redelivered().is_empty());

    let right = catch_up(
        &github,
        dir.path(),
        "app",
        &["--github-app-id", APP_ID, "--github-app-key-file", key],
    )
    .await;
    assert_eq!(right.code, Some(0), "{}\n{}", right.stdout, right.stderr);
    assert_eq!(github.redelivered(), [down.id]);
    assert_eq!(listener.created().len(), 1);
    assert!(
        !right.stderr.contains(TOKEN) && !right.stdout.contains(TOKEN),
        "no credential is printed"
    );
}

#[tokio::test]
async fn serve_catches_up_on_what_failed_while_it_was_down_and_creates_each_run_once() {
    let github = GitHubHooks::start(&nothing_listens().await, DEV_SECRET, TOKEN).await;
    let body = fixture("pull_request.opened");
    let mut guids = Vec::new();
    for _ in 0..5 {
        let attempt = github.deliver(REPO_HOOK, "pull_request", &body).await;
        assert_eq!(attempt.status_code, 0, "the listener is down");
        guids.push(attempt.guid);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).expect("token");
    let state = dir.path().join("state.json");
    let sink = format!("dir:{}", out.display());
    let server = spawn_serve(
        &[
            "-f",
            "config/",
            "--sink",
            &sink,
            "--drain-delay",
            "0",
            "--catch-up-hook",
            "repo:octo/app:1",
            "--catch-up-interval",
            "1s",
            "--catch-up-pace",
            "0s",
            "--catch-up-state",
            state.to_str().expect("UTF-8 path"),
            "--github-api-url",
            &github.url,
            "--github-token-file",
            token.to_str().expect("UTF-8 path"),
        ],
        &[],
    )
    .await;
    github.set_target(&server.url());
    // Within a pass or two (the first may race the target change above: a redelivery to
    // the old target fails and is redelivered again by the next pass).
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while created_in(&out).len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "five runs within {TIMEOUT:?}: {} so far",
            created_in(&out).len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Two more passes: nothing more is redelivered or created.
    let listed = |github: &GitHubHooks| {
        github
            .requests()
            .iter()
            .filter(|r| r.starts_with("GET "))
            .count()
    };
    let after_five = listed(&github);
    while listed(&github) < after_five + 2 {
        assert!(tokio::time::Instant::now() < deadline, "two more passes");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let created = created_in(&out);
    assert_eq!(created.len(), 5);
    let mut unique = names(&created);
    unique.dedup();
    assert_eq!(unique.len(), 5, "each PipelineRun once");
    let redelivered = github.redelivered();
    assert!(
        (5..=10).contains(&redelivered.len()),
        "each failed delivery redelivered, at most twice when the first pass raced: {redelivered:?}"
    );
    assert!(state.exists(), "the checkpoint is saved");
    let text = scrape(&format!("http://{}/metrics", server.metrics_addr)).await;
    let counted = sample(
        &text,
        "eventlistener_catchup_redelivered_total{hook=\"repo:octo/app:1\"}",
    );
    assert_eq!(counted, Some(redelivered.len().to_string()), "{text}");
    assert!(
        sample(
            &text,
            "eventlistener_catchup_last_pass_timestamp_seconds{hook=\"repo:octo/app:1\"}"
        )
        .is_some_and(|t| t.parse::<f64>().is_ok_and(|t| t > 0.0)),
        "{text}"
    );
}

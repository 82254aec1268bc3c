//! The binary's `replay` subcommand against a running listener.

use crate::support::{DEV_SECRET, TIMEOUT, repo_path, start_default};

#[tokio::test]
async fn replay_signs_and_sends_a_fixture() {
    let listener = start_default().await;
    let output = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_eventlistener"))
            .arg("replay")
            .arg(repo_path("fixtures/github/pull_request.opened.json"))
            .args(["--secret", DEV_SECRET, "--url", &listener.url])
            .output(),
    )
    .await
    .expect("replay finishes in time")
    .expect("replay runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("202\n"), "{stdout}");
    assert!(stdout.contains("\"eventID\""), "{stdout}");
    let created = listener.created();
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0]["spec"]["pipelineRef"]["name"],
        "chespirito-staging-pipeline"
    );
}

#[tokio::test]
async fn serve_reports_a_missing_reference_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("el.yaml");
    std::fs::write(
        &config,
        "apiVersion: triggers.tekton.dev/v1beta1\nkind: EventListener\nmetadata:\n  name: el\nspec:\n  triggers:\n    - name: t\n      bindings:\n        - ref: nope\n      template:\n        ref: also-nope\n",
    )
    .unwrap();
    let output = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_eventlistener"))
            .args(["serve", "--address", "127.0.0.1:0", "-f"])
            .arg(&config)
            .output(),
    )
    .await
    .expect("serve exits in time")
    .expect("serve runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TriggerBinding default/nope not found"),
        "{stderr}"
    );
    assert!(
        stderr.contains("TriggerTemplate default/also-nope not found"),
        "{stderr}"
    );
}

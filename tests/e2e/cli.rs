//! The binary's `replay` subcommand against a running listener.

use crate::support::relay::Relay;
use crate::support::{BinaryOutput, DEV_SECRET, TIMEOUT, repo_path, run_binary, start_default};

/// `eventlistener replay` of the opened pull request, signed with `secret`, to `url`, with
/// `more` arguments.
async fn replay(url: &str, secret: &str, more: &[&str]) -> BinaryOutput {
    let fixture = "fixtures/github/pull_request.opened.json";
    let mut args = vec!["replay", fixture, "--secret", secret, "--url", url];
    args.extend_from_slice(more);
    run_binary(&args).await
}

#[tokio::test]
async fn replay_signs_and_sends_a_fixture() {
    let listener = start_default().await;
    let BinaryOutput {
        code,
        stdout,
        stderr,
    } = replay(&listener.url, DEV_SECRET, &[]).await;
    assert_eq!(code, Some(0), "{stdout} {stderr}");
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
async fn replay_count_sends_new_deliveries_over_one_connection() {
    let listener = start_default().await;
    let relay = Relay::start(listener.addr).await;
    let url = format!("http://{}/", relay.addr);
    let BinaryOutput {
        code,
        stdout,
        stderr,
    } = replay(&url, DEV_SECRET, &["--count", "3"]).await;
    assert_eq!(code, Some(0), "{stdout} {stderr}");
    assert_eq!(stdout.matches("202\n").count(), 3, "{stdout}");
    // Three deliveries, not one redelivered: each made its PipelineRun.
    assert_eq!(listener.created().len(), 3);
    assert_eq!(relay.accepted(), 1, "one kept-alive connection");
}

#[tokio::test]
async fn replay_count_stops_at_the_first_refused_delivery() {
    let listener = start_default().await;
    let BinaryOutput {
        code,
        stdout,
        stderr,
    } = replay(&listener.url, "not-the-secret", &["--count", "3"]).await;
    assert_eq!(code, Some(1), "{stdout} {stderr}");
    assert_eq!(stdout.matches("403\n").count(), 1, "{stdout}");
    assert!(stderr.contains("to delivery 1 of 3"), "{stderr}");
    assert!(listener.created().is_empty());
}

#[tokio::test]
async fn replay_fails_when_the_listener_refuses_the_delivery() {
    let listener = start_default().await;
    let BinaryOutput {
        code,
        stdout,
        stderr,
    } = replay(&listener.url, "not-the-secret", &[]).await;
    assert_eq!(code, Some(1), "{stdout} {stderr}");
    assert!(stdout.starts_with("403\n"), "{stdout}");
    assert!(
        stderr.contains("the listener answered 403 Forbidden"),
        "{stderr}"
    );
    assert!(listener.created().is_empty());
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

/// Runs the binary with `args`, bounded in time: (exit success, stdout, stderr).
async fn run_tool(args: &[&str]) -> (bool, String, String) {
    let output = run_binary(args).await;
    (output.code == Some(0), output.stdout, output.stderr)
}

fn write_temp(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn cel_eval_prints_the_result_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let filter = write_temp(
        &dir,
        "filter.cel",
        "header.match('x-github-event', 'pull_request') && body.action in ['opened', 'synchronize']\n",
    );
    let overlay = write_temp(
        &dir,
        "overlay.cel",
        "{'sha': body.pull_request.head.sha.truncate(7), 'n': body.number}",
    );
    let request = "fixtures/http/pull_request.opened.http";
    let (ok, out, err) = run_tool(&["cel-eval", "-e", &filter, "-r", request]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "true");
    let (ok, out, err) = run_tool(&[
        "cel-eval",
        "--expression",
        &overlay,
        "--http-request",
        request,
    ])
    .await;
    assert!(ok, "{err}");
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value, serde_json::json!({"sha": "ec26c3e", "n": 2}));
    let bad = write_temp(&dir, "bad.cel", "body.action.nope()");
    let (ok, out, err) = run_tool(&["cel-eval", "-e", &bad, "-r", request]).await;
    assert!(!ok && out.is_empty());
    assert!(err.contains("undeclared reference to 'nope'"), "{err}");
}

#[tokio::test]
async fn binding_eval_prints_params_sorted_by_name() {
    let (ok, out, err) = run_tool(&[
        "binding-eval",
        "-b",
        "config/staging.yaml",
        "-r",
        "fixtures/http/pull_request.opened.http",
    ])
    .await;
    assert!(ok, "{err}");
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        value,
        serde_json::json!([
            {"name": "repo-url", "value": "https://github.com/Codertocat/Hello-World.git"},
            {"name": "revision", "value": "ec26c3e57ca3a959ca5aad62de7213c562f8c821"}
        ])
    );
}

#[tokio::test]
async fn triggerrun_prints_what_would_be_created_and_explains() {
    let (ok, out, err) = run_tool(&[
        "triggerrun",
        "-t",
        "config/",
        "-r",
        "fixtures/http/pull_request.closed.merged.http",
        "--explain",
    ])
    .await;
    assert!(ok, "{err}");
    let objects: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!(
        objects[0]["spec"]["pipelineRef"]["name"],
        "chespirito-production-pipeline"
    );
    assert_eq!(
        objects[0]["metadata"]["generateName"],
        "chespirito-production-pipeline-"
    );
    assert!(err.contains("trigger pr-trigger"), "{err}");
    assert!(err.contains("interceptor cel: stop (filtered)"), "{err}");
    assert!(err.contains("param revision = \"ec26c3e57ca3a959ca5aad62de7213c562f8c821\" from binding $(body.pull_request.head.sha)"), "{err}");

    // A wrong signature in the request file stops both triggers: nothing would be created.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/http/pull_request.opened.http"),
    )
    .unwrap();
    let forged = write_temp(&dir, "forged.http", &text.replace("sha256=", "sha256=00"));
    let (ok, out, err) =
        run_tool(&["triggerrun", "-t", "config/", "-r", &forged, "--explain"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "[]");
    assert!(err.contains("stop (unauthenticated)"), "{err}");
}

#[tokio::test]
async fn validate_refuses_manifests_without_an_event_listener() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo_path("config/staging.yaml"),
        dir.path().join("staging.yaml"),
    )
    .unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let (ok, out, err) = run_tool(&["validate", "-f", &path]).await;
    assert!(!ok, "{out}{err}");
    assert!(
        format!("{out}{err}").contains(&format!("{path}: error: no EventListener")),
        "{out}{err}"
    );
}

#[tokio::test]
async fn validate_accepts_the_default_config_and_reports_every_problem() {
    let (ok, out, err) = run_tool(&["validate", "-f", "config/"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("ok: 1 EventListener(s)"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let broken = write_temp(
        &dir,
        "broken.yaml",
        r#"apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: el
spec:
  triggers:
    - name: t
      interceptors:
        - cel:
            filter: "body.action == 'opened' && nope(1)"
      bindings:
        - ref: b
        - ref: missing
      template:
        ref: tt
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerBinding
metadata:
  name: b
spec:
  params:
    - name: x
      value: $(body.a[)
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata:
  name: tt
spec:
  params:
    - name: x
  resourcetemplates:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        labels:
          a: b
      data:
        x: $(tt.params.x) $(tt.params.y)
"#,
    );
    let (ok, out, _) = run_tool(&["validate", "-f", &broken]).await;
    assert!(!ok);
    assert!(out.contains("undeclared reference to 'nope'"), "{out}");
    assert!(out.contains("<input>:1:"), "CEL position: {out}");
    assert!(
        out.contains("TriggerBinding default/missing not found"),
        "{out}"
    );
    assert!(out.contains("TriggerBinding b: param x"), "{out}");
    assert!(out.contains("$(tt.params.y) is not declared"), "{out}");
    assert!(out.contains("broken.yaml:"), "{out}");
}

/// The default config copied to a temporary directory, with its first `bindings:` misspelled
/// `bindngs:`; and the `line:column` of that key.
fn config_with_a_typo() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo_path("config")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let el = dir.path().join("eventlistener.yaml");
    let text = std::fs::read_to_string(&el).unwrap();
    let typo = text.replacen("bindings:", "bindngs:", 1);
    assert_ne!(typo, text, "config/eventlistener.yaml has bindings");
    std::fs::write(&el, &typo).unwrap();
    let (line, column) = typo
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("bindngs:").map(|c| (i + 1, c + 1)))
        .unwrap();
    let at = format!("{}:{line}:{column}", el.display());
    (
        dir,
        at,
        "unknown field `bindngs`, did you mean `bindings`?".to_owned(),
    )
}

#[tokio::test]
async fn validate_names_an_unknown_field_with_its_position_and_the_closest_name() {
    let (dir, at, message) = config_with_a_typo();
    let (ok, out, err) = run_tool(&["validate", "-f", dir.path().to_str().unwrap()]).await;
    assert!(!ok, "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.contains("bindngs"))
        .unwrap_or_else(|| panic!("no line names bindngs:\n{out}"));
    assert_eq!(
        line,
        format!("{at}: error: EventListener chespirito-github-el: {message}")
    );
    assert_eq!(out.matches("bindngs").count(), 1, "reported once: {out}");
}

#[tokio::test]
async fn serve_refuses_an_unknown_field_with_the_validate_message_and_does_not_listen() {
    let (dir, at, message) = config_with_a_typo();
    let (code, stderr) = serve_without_a_cluster(&[
        "-f",
        dir.path().to_str().unwrap(),
        "--address",
        "127.0.0.1:0",
        "--metrics-address",
        "127.0.0.1:0",
    ])
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{at}: error: EventListener chespirito-github-el: {message}"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
}

#[tokio::test]
async fn validate_json_output_lists_each_problem_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let trigger = serde_json::json!({
        "apiVersion": "triggers.tekton.dev/v1beta1",
        "kind": "Trigger",
        "metadata": {"name": "t"},
        "spec": {
            "bindings": [{"name": "x", "value": "$(body.x)"}],
            "template": {"spec": {
                "params": [{"name": "x"}],
                "resourcetemplates": [{"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"generateName": "c-"}, "data": {"x": "$(tt.params.x)"}}]
            }},
            "interceptors": [{"ref": {"name": "cel", "knd": "ClusterInterceptor"},
                "params": [{"name": "filter", "value": "true"}]}]
        }
    });
    let el = serde_json::json!({
        "apiVersion": "triggers.tekton.dev/v1beta1",
        "kind": "EventListener",
        "metadata": {"name": "el"},
        "spec": {"triggers": [{"triggerRef": "t"}]}
    });
    let text = format!(
        "{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n{el},\n{trigger}\n]}}\n"
    );
    let path = write_temp(&dir, "manifests.json", &text);
    let column = text.lines().nth(2).unwrap().find("\"knd\"").unwrap() + 1;
    let (ok, out, err) = run_tool(&["validate", "-o", "json", "-f", &path]).await;
    assert!(!ok, "{out}{err}");
    let report: serde_json::Value =
        serde_json::from_str(&out).expect("stdout is one JSON document");
    assert_eq!(report["ok"], false);
    assert_eq!(report["counts"]["errors"], 1, "{report:#}");
    let problems = report["problems"].as_array().unwrap();
    let unknown = problems
        .iter()
        .find(|p| p["message"].as_str().unwrap().contains("knd"))
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(
        unknown,
        &serde_json::json!({
            "severity": "error",
            "file": path,
            "line": 3,
            "column": column,
            "kind": "Trigger",
            "name": "t",
            "field": "items[1].spec.interceptors[0].ref.knd",
            "message": "unknown field `knd`, did you mean `kind`?",
        })
    );
}

#[tokio::test]
async fn validate_warns_of_a_template_param_no_binding_supplies_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(
        &dir,
        "el.yaml",
        r#"apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: el
spec:
  triggers:
    - name: t
      bindings:
        - name: a
          value: $(body.a)
      template:
        ref: tt
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata:
  name: tt
spec:
  params:
    - name: a
    - name: b
    - name: c
      default: x
  resourcetemplates:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        generateName: c-
      data:
        a: $(tt.params.a) $(tt.params.b) $(tt.params.c)
"#,
    );
    for output in ["text", "json"] {
        let (ok, out, err) = run_tool(&["validate", "-o", output, "-f", &path]).await;
        assert!(ok, "warnings only: exit 0\n{out}{err}");
        assert_eq!(out.matches("$(tt.params.b)").count(), 1, "{out}");
        assert!(
            !out.contains("param a:") && !out.contains("param c:"),
            "{out}"
        );
        if output == "text" {
            let warning = out.lines().next().unwrap();
            assert!(
                warning.starts_with(&format!("{path}:11:7: warning: EventListener el: trigger t: TriggerTemplate tt param b: no binding supplies it")),
                "{out}"
            );
            assert!(out.contains("ok: 1 EventListener(s)"), "{out}");
        } else {
            let report: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(report["ok"], true);
            assert_eq!(report["counts"]["warnings"], 1);
            assert_eq!(report["problems"][0]["severity"], "warning");
            assert_eq!(report["problems"][0]["field"], "spec.triggers[0].template");
        }
    }
}

/// `serve` run where there is no cluster, as a newcomer would: the binary with no kubeconfig.
async fn serve_without_a_cluster(args: &[&str]) -> (Option<i32>, String) {
    let home = tempfile::tempdir().unwrap();
    let output = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_eventlistener"))
            .arg("serve")
            .args(args)
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .env("HOME", home.path())
            .output(),
    )
    .await
    .expect("serve exits in time")
    .expect("serve runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn serve_without_files_or_a_cluster_says_in_one_line_what_it_needs() {
    let (code, stderr) = serve_without_a_cluster(&["--metrics-address", "127.0.0.1:0"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("-f PATH") && stderr.contains("--listener NAME"),
        "{stderr}"
    );
    let (code, stderr) =
        serve_without_a_cluster(&["--listener", "el", "--metrics-address", "127.0.0.1:0"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("there is no Kubernetes configuration here") && stderr.contains("-f PATH"),
        "{stderr}"
    );
    let help = run_binary(&["serve", "--help"]).await;
    assert_eq!(help.code, Some(0));
    for mode in [
        "Two modes:",
        "  files    serve -f PATH",
        "  cluster  serve --listener NAME",
    ] {
        assert!(
            help.stdout.contains(mode),
            "{mode:?} not in\n{}",
            help.stdout
        );
    }
}

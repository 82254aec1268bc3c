//! Slack slash commands: a form-encoded body, taken because the EventListener turns payload
//! validation off, converted to JSON for the interceptors and bindings (reference §3.4), read by
//! the slack interceptor, and signed as Slack signs (checked with our `signingSecretRef`). The
//! signatures here are computed by Python's `hmac`, not by the listener's code.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::kube_cluster::follow_listener;
use crate::support::api_server::{api_server, skipped};
use crate::support::{Reply, TIMEOUT, post, python_hmac_hex, run_binary, start};

const SIGNING_SECRET: &str = "e2e-slack-signing-secret-4f1c";

/// A slash command as Slack documents its fields, with our own values.
const SLASH_COMMAND: &str = "token=verification-token-e2e&team_id=T0E2ETEAM&team_domain=chespirito\
&channel_id=C0E2ECHAN&channel_name=deploys&user_id=U0E2EUSER&user_name=florinda\
&command=%2Fweather&text=94070&api_app_id=A0E2EAPP\
&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0E2ETEAM%2F42%2Fabc\
&trigger_id=42.4242.deadbeef";

fn config(payload_validation: Option<&str>) -> String {
    let annotation = payload_validation
        .map(|v| format!("  annotations:\n    tekton.dev/payload-validation: \"{v}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
apiVersion: v1
kind: Secret
metadata:
  name: slack-app
stringData:
  signing-secret: {SIGNING_SECRET}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: slack-el
{annotation}spec:
  triggers:
    - name: slash-command
      interceptors:
        - ref:
            name: slack
          params:
            - name: requestedFields
              value: [command, text, user_name]
            - name: signingSecretRef
              value:
                secretName: slack-app
                secretKey: signing-secret
        - ref:
            name: cel
          params:
            - name: overlays
              value:
                - key: zip
                  expression: "body.text[0]"
      bindings:
        - name: command
          value: $(extensions.command)
        - name: zip
          value: $(extensions.zip)
        - name: channel
          value: $(body.channel_name)
      template:
        ref: weather
    - name: no-interceptors
      bindings:
        - name: command
          value: $(body.command)
        - name: zip
          value: none
        - name: channel
          value: none
      template:
        ref: weather
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata:
  name: weather
spec:
  params:
    - name: command
    - name: zip
    - name: channel
  resourcetemplates:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        generateName: weather-
      data:
        command: $(tt.params.command)
        zip: $(tt.params.zip)
        channel: $(tt.params.channel)
"#
    )
}

fn write_config(dir: &tempfile::TempDir, payload_validation: Option<&str>) -> PathBuf {
    let path = dir.path().join("slack.yaml");
    std::fs::write(&path, config(payload_validation)).expect("config written");
    path
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// `v0=<hex>` over `v0:{timestamp}:{body}`, by Python's `hmac` module.
fn python_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let message = format!("v0:{timestamp}:{body}");
    format!(
        "v0={}",
        python_hmac_hex("sha256", secret, message.as_bytes())
    )
}

/// POSTs `body` form-encoded with Slack's headers.
async fn post_slack(url: &str, body: &str, timestamp: &str, signature: &str) -> Reply {
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)"),
        ("X-Slack-Request-Timestamp", timestamp),
        ("X-Slack-Signature", signature),
    ];
    post(url, &headers, body.as_bytes()).await
}

#[tokio::test]
async fn a_signed_slash_command_creates_from_its_form_fields() {
    let dir = tempfile::tempdir().unwrap();
    let listener = start(&[write_config(&dir, Some("false"))]).await;
    let timestamp = unix_now().to_string();
    let signature = python_signature(SIGNING_SECRET, &timestamp, SLASH_COMMAND);
    let reply = post_slack(&listener.url, SLASH_COMMAND, &timestamp, &signature).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let created = listener.created();
    // The trigger without interceptors sees the raw body, which is not JSON: its bindings
    // fail, as upstream's do.
    assert_eq!(created.len(), 1, "{created:?}");
    let config_map = &created[0];
    assert_eq!(
        config_map["metadata"]["labels"]["triggers.tekton.dev/trigger"],
        "slash-command"
    );
    // Every form value is a list of strings; bindings render lists as JSON.
    assert_eq!(config_map["data"]["command"], r#"["/weather"]"#);
    assert_eq!(config_map["data"]["channel"], r#"["deploys"]"#);
    assert_eq!(
        config_map["data"]["zip"], "94070",
        "CEL reads the converted form"
    );
}

#[tokio::test]
async fn wrong_signatures_and_stale_timestamps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let listener = start(&[write_config(&dir, Some("false"))]).await;
    let now = unix_now().to_string();
    let wrong = python_signature("not-the-signing-secret", &now, SLASH_COMMAND);
    let reply = post_slack(&listener.url, SLASH_COMMAND, &now, &wrong).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(
        reply.body["errorMessage"],
        "X-Slack-Signature check failed: payload signature check failed"
    );
    // Correctly signed, ten minutes ago: a replay.
    let stale = (unix_now() - 600).to_string();
    let signature = python_signature(SIGNING_SECRET, &stale, SLASH_COMMAND);
    let reply = post_slack(&listener.url, SLASH_COMMAND, &stale, &signature).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let message = reply.body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("X-Slack-Request-Timestamp"), "{message}");
    assert!(listener.created().is_empty(), "{:?}", listener.created());
}

#[tokio::test]
async fn without_the_annotation_a_form_body_is_refused() {
    for annotation in [None, Some("true")] {
        let dir = tempfile::tempdir().unwrap();
        let listener = start(&[write_config(&dir, annotation)]).await;
        let timestamp = unix_now().to_string();
        let signature = python_signature(SIGNING_SECRET, &timestamp, SLASH_COMMAND);
        let reply = post_slack(&listener.url, SLASH_COMMAND, &timestamp, &signature).await;
        assert_eq!(reply.status, 400, "{annotation:?}: {}", reply.body);
        let message = reply.body["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("Invalid event body format : "),
            "{annotation:?}: {message}"
        );
        assert!(listener.created().is_empty());
    }
}

#[tokio::test]
async fn triggerrun_reads_a_form_request_file_as_the_annotated_listener_would() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, Some("false"));
    let timestamp = unix_now().to_string();
    let signature = python_signature(SIGNING_SECRET, &timestamp, SLASH_COMMAND);
    let request = dir.path().join("slash-command.http");
    let file = format!(
        "POST /slack HTTP/1.1\nContent-Type: application/x-www-form-urlencoded\n\
         X-Slack-Request-Timestamp: {timestamp}\nX-Slack-Signature: {signature}\n\n{SLASH_COMMAND}"
    );
    std::fs::write(&request, file).unwrap();
    let config = config.to_str().unwrap();
    let request = request.to_str().unwrap();
    let out = run_binary(&["triggerrun", "-t", config, "-r", request, "--explain"]).await;
    assert!(
        out.stderr.contains(
            r#"interceptor slack: continue, extensions {"command":["/weather"],"text":["94070"],"user_name":["florinda"]}"#
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(r#"param zip = "94070""#),
        "{}",
        out.stderr
    );
    // The trigger without interceptors reads the form as sent, which is not JSON.
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("trigger no-interceptors: failed to unmarshal request body"),
        "{}",
        out.stderr
    );
}

/// Waits (bounded) until the listener in service reads bodies as `payload_validation` says.
async fn validating(
    handle: &eventlistener::event_listener::ListenerHandle,
    payload_validation: bool,
) {
    let mut served = handle.watch();
    let found = tokio::time::timeout(
        TIMEOUT,
        served.wait_for(|l| {
            l.as_ref().is_some_and(|l| {
                l.triggers.len() == 2 && l.payload_validation == payload_validation
            })
        }),
    )
    .await;
    assert!(
        matches!(found, Ok(Ok(_))),
        "never served with payload_validation={payload_validation}"
    );
}

#[tokio::test]
async fn kube_the_annotation_is_followed_in_cluster_mode() {
    let Some(server) = api_server() else {
        return skipped("kube_the_annotation_is_followed_in_cluster_mode");
    };
    let namespace = server.new_namespace("slack");
    server.kubectl_stdin_ok(
        &["apply", "-n", &namespace, "-f", "-"],
        &config(Some("false")),
    );
    let (handle, url) = follow_listener(server, "slack-el", &namespace, false).await;
    validating(&handle, false).await;
    let timestamp = unix_now().to_string();
    let signature = python_signature(SIGNING_SECRET, &timestamp, SLASH_COMMAND);
    let reply = post_slack(&url, SLASH_COMMAND, &timestamp, &signature).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let list: Value = serde_json::from_str(&server.kubectl_ok(&[
        "get",
        "configmaps",
        "-n",
        &namespace,
        "-o",
        "json",
    ]))
    .expect("kubectl JSON");
    let weather: Vec<&Value> = list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|c| {
                    c["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("weather-"))
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(weather.len(), 1, "{list}");
    assert_eq!(weather[0]["data"]["zip"], "94070");

    // The annotation changed to "true": the form body is refused again.
    server.kubectl_ok(&[
        "annotate",
        "-n",
        &namespace,
        "--overwrite",
        "eventlisteners.triggers.tekton.dev/slack-el",
        "tekton.dev/payload-validation=true",
    ]);
    validating(&handle, true).await;
    let reply = post_slack(&url, SLASH_COMMAND, &timestamp, &signature).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}

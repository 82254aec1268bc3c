//! Bad signatures, bad bodies and hostile payload values: nothing is created, the answer says why.

use serde_json::{Value, json};

use crate::support::{DEV_SECRET, deliver, fixture, start, start_default};

#[tokio::test]
async fn wrong_signature_is_403_and_creates_nothing() {
    let listener = start_default().await;
    let reply = deliver(
        &listener.url,
        "pull_request",
        &fixture("pull_request.opened"),
        Some("not-the-secret"),
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.body["errorMessage"], "payload signature check failed");
    assert!(reply.body["eventID"].is_string());
    assert!(listener.created().is_empty());
}

#[tokio::test]
async fn missing_signature_is_403_and_creates_nothing() {
    let listener = start_default().await;
    let reply = deliver(
        &listener.url,
        "pull_request",
        &fixture("pull_request.opened"),
        None,
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(
        reply.body["errorMessage"],
        "no X-Hub-Signature-256 header set"
    );
    assert!(listener.created().is_empty());
}

#[tokio::test]
async fn body_changed_after_signing_is_403() {
    let listener = start_default().await;
    let body = fixture("pull_request.opened");
    let signature =
        eventlistener::interceptors::signature::sign_sha256(DEV_SECRET.as_bytes(), &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let r = reqwest::Client::new()
        .post(&listener.url)
        .header("X-GitHub-Event", "pull_request")
        .header("X-Hub-Signature-256", signature)
        .body(tampered)
        .timeout(crate::support::TIMEOUT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(listener.created().is_empty());
}

#[tokio::test]
async fn malformed_json_is_400_with_tekton_body_and_creates_nothing() {
    let listener = start_default().await;
    for body in [&b"{\"action\": \"opened\""[..], b"", b"[1,2]", b"\"text\""] {
        let reply = deliver(&listener.url, "pull_request", body, Some(DEV_SECRET)).await;
        assert_eq!(
            reply.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            reply.body
        );
        let message = reply.body["errorMessage"].as_str().unwrap();
        assert!(
            message.starts_with("Invalid event body format : "),
            "{message}"
        );
        assert_eq!(reply.body["eventListener"], "chespirito-github-el");
    }
    assert!(listener.created().is_empty());
}

#[tokio::test]
async fn oversized_body_is_413_and_creates_nothing() {
    let listener = start_default().await;
    // The test server's limit is 1 MiB.
    let mut body = b"{\"pad\":\"".to_vec();
    body.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
    body.extend_from_slice(b"\"}");
    let reply = deliver(&listener.url, "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(listener.created().is_empty());
}

/// A client still sending a body it was refused gets its answer and then end-of-file, not a
/// reset: the server reads and drops the rest (as Go's server does, for up to 500 ms) rather than
/// closing with unread bytes, which makes the kernel reset the connection and can lose the answer.
#[tokio::test]
async fn a_refused_body_still_being_sent_is_read_to_its_end_and_the_answer_kept() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = start_default().await;
    let addr = listener.addr;
    let declared = 2 * 1024 * 1024;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: pull_request\r\n\
         Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head sent");
    // The answer comes from the declared length, before any of the body.
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(crate::support::TIMEOUT, stream.read(&mut buf))
            .await
            .expect("answered in time")
            .expect("read");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // The client did not wait for the answer: it sends the whole body anyway.
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..declared / chunk.len() {
        stream
            .write_all(&chunk)
            .await
            .expect("the server reads the refused body instead of resetting");
    }
    // Then the server's end-of-file (after the rest of the answer), never a reset.
    let rest = tokio::time::timeout(crate::support::TIMEOUT, async {
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.map(|_| rest)
    })
    .await
    .expect("closed in time");
    assert!(rest.is_ok(), "reset instead of end-of-file: {rest:?}");
    assert!(listener.created().is_empty());
}

const ONE_FAILING_FILTER: &str = r#"
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: two
spec:
  triggers:
    - name: broken-on-this-payload
      interceptors:
        - cel:
            filter: "body.no.such.field == 'x'"
      bindings:
        - name: sha
          value: $(body.pull_request.head.sha)
      template:
        ref: t
    - name: fine
      interceptors:
        - cel:
            filter: "body.action == 'opened'"
      bindings:
        - name: sha
          value: $(body.pull_request.head.sha)
      template:
        ref: t
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata:
  name: t
spec:
  params:
    - name: sha
  resourcetemplates:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        generateName: sha-
      data:
        sha: $(tt.params.sha)
"#;

#[tokio::test]
async fn a_cel_error_stops_only_its_own_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("el.yaml");
    std::fs::write(&config, ONE_FAILING_FILTER).unwrap();
    let listener = start(&[config]).await;
    let reply = deliver(
        &listener.url,
        "pull_request",
        &fixture("pull_request.opened"),
        None,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let created = listener.created();
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0]["metadata"]["labels"]["triggers.tekton.dev/trigger"],
        "fine"
    );
    assert_eq!(
        created[0]["data"]["sha"],
        "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    );
}

const ESCAPING_CONFIG: &str = r#"
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: escaping
  namespace: ci
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
        - name: title
          value: $(body.pull_request.title)
        - name: branch
          value: "branch: $(body.pull_request.head.ref)"
      template:
        spec:
          params:
            - name: title
            - name: branch
          resourcetemplates:
            - apiVersion: tekton.dev/v1
              kind: PipelineRun
              metadata:
                generateName: build-
                annotations:
                  title: "$(tt.params.title)"
              spec:
                pipelineRef:
                  name: build
                params:
                  - name: title
                    value: $(tt.params.title)
                  - name: branch
                    value: $(tt.params.branch)
---
apiVersion: v1
kind: Secret
metadata:
  name: gh
  namespace: ci
stringData:
  token: s3cret
"#;

#[tokio::test]
async fn payload_values_with_quotes_and_json_stay_data() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("el.yaml");
    std::fs::write(&config, ESCAPING_CONFIG).unwrap();
    let listener = start(&[config]).await;

    let title = "Fix \"quotes\", back\\slashes,\nnew lines\"}, \"kind\": \"Secret\", \"x\": {\"y\": \"$(tt.params.branch)";
    let branch = "feature\"}],\"spec\":{\"serviceAccountName\":\"admin\"},\"a\":[{\"b\":\"\\";
    let mut payload: Value = serde_json::from_slice(&fixture("pull_request.opened")).unwrap();
    payload["pull_request"]["title"] = json!(title);
    payload["pull_request"]["head"]["ref"] = json!(branch);
    let body = serde_json::to_vec(&payload).unwrap();

    let reply = deliver(&listener.url, "pull_request", &body, Some("s3cret")).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let created = listener.created();
    assert_eq!(created.len(), 1);
    let run = &created[0];
    assert_eq!(run["kind"], "PipelineRun");
    assert_eq!(run["metadata"]["namespace"], "ci");
    let keys: Vec<&String> = run.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec"]);
    let spec_keys: Vec<&String> = run["spec"].as_object().unwrap().keys().collect();
    assert_eq!(spec_keys, ["params", "pipelineRef"]);
    // `$(` is escaped to `$$(` as upstream does; everything else is the payload, verbatim.
    let expected_title = title.replace("$(", "$$(");
    assert_eq!(run["spec"]["params"][0]["value"], expected_title.as_str());
    assert_eq!(
        run["metadata"]["annotations"]["title"],
        expected_title.as_str()
    );
    assert_eq!(
        run["spec"]["params"][1]["value"],
        format!("branch: {branch}").as_str()
    );
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_408_within_the_deadline() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = crate::support::start_with(
        &[crate::support::repo_path("config")],
        None,
        std::time::Duration::from_millis(300),
    )
    .await;
    let address = listener.addr;
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"action\":")
        .await
        .unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(crate::support::TIMEOUT, stream.read(&mut answer))
        .await
        .expect("an answer before the test's own deadline")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"eventID\":\""), "{answer}");
    assert!(listener.created().is_empty());
}

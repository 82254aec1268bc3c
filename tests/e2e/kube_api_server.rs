//! The Kubernetes test API server (support/api_server.rs) serves what the kube tests rely on:
//! Tekton kinds from `tests/kube/crds.yaml`, `generateName`, RBAC with impersonation, and a
//! kubeconfig that verifies the server against its throwaway CA.

use serde_json::Value;

use crate::support::api_server::{api_server, service_account_user, skipped};

/// A PipelineRun as a TriggerTemplate renders one: only `generateName`, no name.
const PIPELINE_RUN: &str = r#"{
  "apiVersion": "tekton.dev/v1",
  "kind": "PipelineRun",
  "metadata": {"generateName": "github-pr-run-"},
  "spec": {"pipelineRef": {"name": "build"}, "params": [{"name": "revision", "value": "ec26c3e"}]}
}"#;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

#[test]
fn a_pipeline_run_with_generate_name_is_created_under_a_generated_name() {
    let Some(server) = api_server() else {
        return skipped("a_pipeline_run_with_generate_name_is_created_under_a_generated_name");
    };
    let namespace = server.new_namespace("generate-name");

    server.kubectl_stdin_ok(&["create", "-n", &namespace, "-f", "-"], PIPELINE_RUN);

    let list = json(&server.kubectl_ok(&["get", "pipelineruns", "-n", &namespace, "-o", "json"]));
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    let name = items[0]["metadata"]["name"].as_str().expect("a name");
    let suffix = name
        .strip_prefix("github-pr-run-")
        .expect("the generateName prefix");
    assert_eq!(suffix.len(), 5, "{name}");
    assert_eq!(items[0]["apiVersion"], "tekton.dev/v1");
    assert_eq!(items[0]["spec"]["params"][0]["value"], "ec26c3e");
}

#[test]
fn a_pipeline_run_stored_as_v1_is_served_as_v1beta1_too() {
    let Some(server) = api_server() else {
        return skipped("a_pipeline_run_stored_as_v1_is_served_as_v1beta1_too");
    };
    let namespace = server.new_namespace("versions");
    let created = json(&server.kubectl_stdin_ok(
        &["create", "-n", &namespace, "-f", "-", "-o", "json"],
        PIPELINE_RUN,
    ));
    let name = created["metadata"]["name"].as_str().expect("a name");

    let beta = json(&server.kubectl_ok(&[
        "get",
        &format!("pipelineruns.v1beta1.tekton.dev/{name}"),
        "-n",
        &namespace,
        "-o",
        "json",
    ]));

    assert_eq!(beta["apiVersion"], "tekton.dev/v1beta1");
    assert_eq!(beta["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(beta["spec"], created["spec"]);
}

#[test]
fn the_triggers_kinds_are_served_with_their_scopes() {
    let Some(server) = api_server() else {
        return skipped("the_triggers_kinds_are_served_with_their_scopes");
    };
    let group = "--api-group=triggers.tekton.dev";

    let namespaced =
        server.kubectl_ok(&["api-resources", group, "--namespaced=true", "-o", "name"]);
    let cluster = server.kubectl_ok(&["api-resources", group, "--namespaced=false", "-o", "name"]);

    assert_eq!(
        lines(&namespaced),
        [
            "eventlisteners.triggers.tekton.dev",
            "interceptors.triggers.tekton.dev",
            "triggerbindings.triggers.tekton.dev",
            "triggers.triggers.tekton.dev",
            "triggertemplates.triggers.tekton.dev",
        ]
    );
    assert_eq!(
        lines(&cluster),
        [
            "clusterinterceptors.triggers.tekton.dev",
            "clustertriggerbindings.triggers.tekton.dev",
        ]
    );
    let wide = server.kubectl_ok(&["api-resources", group, "-o", "wide"]);
    let version_of = |kind: &str| {
        wide.lines()
            .find(|line| line.split_whitespace().any(|word| word == kind))
            .and_then(|line| line.split_whitespace().find(|w| w.contains('/')))
            .unwrap_or_else(|| panic!("{kind} in {wide}"))
            .to_owned()
    };
    assert_eq!(version_of("EventListener"), "triggers.tekton.dev/v1beta1");
    assert_eq!(
        version_of("ClusterInterceptor"),
        "triggers.tekton.dev/v1alpha1"
    );
}

#[test]
fn a_service_account_creates_pipeline_runs_only_once_granted() {
    let Some(server) = api_server() else {
        return skipped("a_service_account_creates_pipeline_runs_only_once_granted");
    };
    let namespace = server.new_namespace("impersonation");
    let as_listener = format!("--as={}", service_account_user(&namespace, "el-sa"));
    let create = ["create", "-n", &namespace, "-f", "-", &as_listener];

    let before = server.kubectl_stdin(&create, PIPELINE_RUN);
    assert!(!before.status.success());
    let stderr = String::from_utf8_lossy(&before.stderr);
    assert!(stderr.contains("Forbidden"), "{stderr}");

    server.grant(
        &namespace,
        "el-sa",
        &["create"],
        &["pipelineruns.tekton.dev"],
    );

    let after = server.kubectl_stdin_ok(&create, PIPELINE_RUN);
    assert!(
        after.contains("pipelinerun.tekton.dev/github-pr-run-"),
        "{after}"
    );
    let secrets = server.kubectl(&["get", "secrets", "-n", &namespace, &as_listener]);
    assert!(
        String::from_utf8_lossy(&secrets.stderr).contains("Forbidden"),
        "the grant is for PipelineRuns only"
    );
}

#[test]
fn the_server_is_on_loopback_and_verified_by_its_own_ca() {
    let Some(server) = api_server() else {
        return skipped("the_server_is_on_loopback_and_verified_by_its_own_ca");
    };
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let ca = format!("--certificate-authority={}", server.ca_cert.display());
    let direct = |token: &str| {
        let token = format!("--token={token}");
        let url = format!("--server={}", server.url);
        server.kubectl(&[&url, &token, &ca, "get", "--raw", "/readyz"])
    };

    let admin = direct(&server.token);
    let stranger = direct("not-the-token");

    assert_eq!(String::from_utf8_lossy(&admin.stdout), "ok");
    assert!(
        String::from_utf8_lossy(&stranger.stderr).contains("Unauthorized"),
        "{}",
        String::from_utf8_lossy(&stranger.stderr)
    );
    let kubeconfig = std::fs::read_to_string(&server.kubeconfig).expect("kubeconfig");
    assert!(kubeconfig.contains(&server.url), "{kubeconfig}");
}

//! What the bench binaries share: the fixture delivery, generated EventListeners of 1 to 1,000
//! triggers, and the event path driven in-process two ways: ours (compiled at load, body parsed
//! once) and an upstream-like one (compiled per request, body re-serialised per interceptor).
//!
//! Every bench binary uses a different subset, hence the `dead_code` allowance where this module
//! is declared.

pub(crate) mod upstream_like;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eventlistener::event::{DeliveryIdPolicy, Event, Headers};
use eventlistener::event_listener::{Listener, LoadOptions};
use eventlistener::interceptors::signature::sign_sha256;
use eventlistener::resources::Creator;
use eventlistener::template::ParamDecl;
use eventlistener::trigger::{EventOutcome, RunOptions, TriggerOutcome};
use serde_json::{Value, json};

/// The development webhook secret (`config/secret.yaml`).
pub(crate) const SECRET: &str = "chespirito-dev-webhook-secret";

/// The payload every benchmark uses: a real GitHub `pull_request` `opened` delivery, 25,194
/// bytes as stored (pretty-printed).
pub(crate) const FIXTURE: &str = "fixtures/github/pull_request.opened.json";

/// `repository.full_name` in the fixture: the filter of the one matching trigger tests it.
const FIXTURE_REPO: &str = "Codertocat/Hello-World";

/// A delivery as it arrives: the exact body bytes and GitHub's headers, signed.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// Body bytes.
    pub(crate) body: Vec<u8>,
    /// Headers as GitHub sends them (names in GitHub's spelling).
    pub(crate) headers: Vec<(String, String)>,
}

/// Path of a file in the repository.
pub(crate) fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The fixture, signed with [`SECRET`], with the headers of a real delivery.
pub(crate) fn delivery() -> Delivery {
    let body = std::fs::read(repo_path(FIXTURE)).expect("fixture exists");
    let signature = sign_sha256(SECRET.as_bytes(), &body);
    let headers = [
        ("Host", "eventlistener.example.com"),
        ("User-Agent", "GitHub-Hookshot/4c1a9f2"),
        ("Accept", "*/*"),
        ("Content-Type", "application/json"),
        ("X-GitHub-Event", "pull_request"),
        ("X-GitHub-Delivery", "a45ca99a-b5ac-47a1-9126-0dfa517ca82d"),
        ("X-GitHub-Hook-ID", "292430182"),
        ("X-GitHub-Hook-Installation-Target-ID", "79929171"),
        ("X-GitHub-Hook-Installation-Target-Type", "repository"),
        ("X-Hub-Signature-256", signature.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([("Content-Length".to_owned(), body.len().to_string())])
    .collect();
    Delivery { body, headers }
}

/// What the sink does before any trigger runs: canonical headers, the body checked to be a JSON
/// object (the tree is built when a trigger first reads it), the delivery ID, one new eventID.
pub(crate) fn receive(delivery: &Delivery) -> Event {
    let headers: Headers = delivery
        .headers
        .iter()
        .filter(|(k, _)| k != "Host")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let delivery_id = DeliveryIdPolicy::default()
        .find(&headers)
        .expect("a valid delivery ID")
        .map(str::to_owned);
    Event::from_body(
        eventlistener::event::new_event_id(),
        "/",
        headers,
        bytes::Bytes::copy_from_slice(&delivery.body),
    )
    .expect("a JSON object")
    .with_delivery_id(delivery_id)
}

/// Our event path, in-process on the calling task: receive, then every trigger in order
/// (interceptors → bindings → template → creator). The server runs the triggers of one event
/// concurrently; here they run one after the other, which is the cost on one core.
pub(crate) async fn run_event(
    listener: &Arc<Listener>,
    creator: &Arc<dyn Creator>,
    delivery: &Delivery,
) -> Vec<TriggerOutcome> {
    let shared = Arc::new(listener.share(Arc::new(receive(delivery))));
    let options = RunOptions {
        concurrent: false,
        ..RunOptions::default()
    };
    match eventlistener::trigger::run_event(
        Arc::clone(listener),
        shared,
        Arc::clone(creator),
        options,
    )
    .await
    {
        EventOutcome::Finished(reports) | EventOutcome::TimedOut(reports) => {
            reports.into_iter().map(|r| r.outcome).collect()
        }
    }
}

/// Number of `Created` outcomes: the benches check that exactly one trigger matched before
/// timing anything.
pub(crate) fn created(outcomes: &[TriggerOutcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, TriggerOutcome::Created(c) if !c.is_empty()))
        .count()
}

/// One trigger of a generated EventListener, as written (the upstream-like path reads these
/// and compiles them per request).
#[derive(Debug, Clone)]
pub(crate) struct TriggerSpec {
    /// Trigger name.
    pub(crate) name: String,
    /// The cel interceptor's filter.
    pub(crate) filter: String,
    /// The github interceptor's `eventTypes`.
    pub(crate) event_types: Vec<String>,
    /// Binding params, every binding in order: `(name, value)`.
    pub(crate) bindings: Vec<(String, String)>,
    /// The TriggerTemplate's params.
    pub(crate) template_params: Vec<ParamDecl>,
    /// The TriggerTemplate's resource templates.
    pub(crate) resource_templates: Vec<Value>,
}

/// The three TriggerBindings every generated trigger uses: five params, from the body and a
/// header.
fn bindings() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            "pr-source",
            vec![
                ("revision", "$(body.pull_request.head.sha)"),
                ("repo-url", "$(body.repository.clone_url)"),
            ],
        ),
        (
            "pr-meta",
            vec![
                ("pr-number", "$(body.number)"),
                ("author", "$(body.pull_request.user.login)"),
            ],
        ),
        ("delivery", vec![("event-type", "$(header.X-GitHub-Event)")]),
    ]
}

fn template_params() -> Vec<ParamDecl> {
    ["revision", "repo-url", "pr-number", "author", "event-type"]
        .into_iter()
        .map(|name| ParamDecl {
            name: name.to_owned(),
            default: (name == "revision").then(|| "main".to_owned()),
        })
        .collect()
}

/// The PipelineRun every trigger creates (as `config/staging.yaml`, with more params).
fn pipeline_run() -> Value {
    json!({
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "generateName": "chespirito-staging-pipeline-",
            "labels": {"chespirito.dev/pr": "$(tt.params.pr-number)"},
            "annotations": {"chespirito.dev/author": "$(tt.params.author)"}
        },
        "spec": {
            "pipelineRef": {"name": "chespirito-staging-pipeline"},
            "taskRunTemplate": {"serviceAccountName": "tekton-kubectl-service-account"},
            "params": [
                {"name": "revision", "value": "$(tt.params.revision)"},
                {"name": "repo-url", "value": "$(tt.params.repo-url)"},
                {"name": "pr-number", "value": "$(tt.params.pr-number)"},
                {"name": "event-type", "value": "$(tt.params.event-type)"},
                {"name": "run-id", "value": "$(uid)"}
            ],
            "workspaces": [{
                "name": "shared-data",
                "volumeClaimTemplate": {"spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}
                }}
            }]
        }
    })
}

/// The specs of an EventListener of `triggers` triggers. Each has the github interceptor
/// (secret, `eventTypes: [pull_request]`) and a cel filter of its own; only the last one's
/// filter matches the fixture.
pub(crate) fn trigger_specs(triggers: usize) -> Vec<TriggerSpec> {
    let bindings: Vec<(String, String)> = bindings()
        .into_iter()
        .flat_map(|(_, params)| params)
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (0..triggers)
        .map(|i| {
            let repo = if i + 1 == triggers {
                FIXTURE_REPO.to_owned()
            } else {
                format!("Codertocat/repo-{i}")
            };
            TriggerSpec {
                name: format!("pr-trigger-{i}"),
                filter: format!(
                    "header.match('X-GitHub-Event', 'pull_request') && \
                     body.action in ['opened', 'synchronize'] && \
                     body.repository.full_name == '{repo}'"
                ),
                event_types: vec!["pull_request".to_owned()],
                bindings: bindings.clone(),
                template_params: template_params(),
                resource_templates: vec![pipeline_run()],
            }
        })
        .collect()
}

/// A generated EventListener, loaded from manifests written to a temporary directory (kept
/// alive with it).
pub(crate) struct Generated {
    /// The loaded listener.
    pub(crate) listener: Arc<Listener>,
    /// The same triggers as written, for the upstream-like path.
    pub(crate) specs: Vec<TriggerSpec>,
    _dir: tempfile::TempDir,
}

/// Writes the manifests of an EventListener with `triggers` triggers (Trigger objects referenced
/// from the EventListener, three TriggerBindings, one TriggerTemplate, the Secret) and loads it
/// as `serve -f DIR` would.
pub(crate) fn generate(triggers: usize) -> Generated {
    let dir = tempfile::tempdir().expect("temp dir");
    let specs = write_manifests(triggers, dir.path());
    let listener = Listener::load(&LoadOptions {
        paths: vec![dir.path().to_owned()],
        ..LoadOptions::default()
    })
    .expect("generated manifests load");
    assert_eq!(listener.triggers.len(), triggers);
    Generated {
        listener: Arc::new(listener),
        specs,
        _dir: dir,
    }
}

/// Writes the manifests [`generate`] loads into `dir/bench.yaml` (EventListener `bench-el`):
/// only the last trigger's filter matches the fixture's repository.
pub(crate) fn write_manifests(triggers: usize, dir: &std::path::Path) -> Vec<TriggerSpec> {
    let specs = trigger_specs(triggers);
    let mut documents = vec![json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "github-webhook-secret"},
        "stringData": {"secretToken": SECRET}
    })];
    for (name, params) in bindings() {
        documents.push(json!({
            "apiVersion": "triggers.tekton.dev/v1beta1", "kind": "TriggerBinding",
            "metadata": {"name": name},
            "spec": {"params": params.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>()}
        }));
    }
    documents.push(json!({
        "apiVersion": "triggers.tekton.dev/v1beta1", "kind": "TriggerTemplate",
        "metadata": {"name": "pr-template"},
        "spec": {
            "params": template_params().iter().map(|p| match &p.default {
                Some(d) => json!({"name": p.name, "default": d}),
                None => json!({"name": p.name}),
            }).collect::<Vec<_>>(),
            "resourcetemplates": [pipeline_run()]
        }
    }));
    for spec in &specs {
        documents.push(json!({
            "apiVersion": "triggers.tekton.dev/v1beta1", "kind": "Trigger",
            "metadata": {"name": spec.name},
            "spec": {
                "interceptors": [
                    {"ref": {"name": "github", "kind": "ClusterInterceptor"}, "params": [
                        {"name": "secretRef", "value": {"secretName": "github-webhook-secret", "secretKey": "secretToken"}},
                        {"name": "eventTypes", "value": spec.event_types}
                    ]},
                    {"ref": {"name": "cel", "kind": "ClusterInterceptor"}, "params": [
                        {"name": "filter", "value": spec.filter}
                    ]}
                ],
                "bindings": bindings().iter().map(|(name, _)| json!({"ref": name})).collect::<Vec<_>>(),
                "template": {"ref": "pr-template"}
            }
        }));
    }
    documents.push(json!({
        "apiVersion": "triggers.tekton.dev/v1beta1", "kind": "EventListener",
        "metadata": {"name": "bench-el"},
        "spec": {
            "serviceAccountName": "tekton-triggers-sa",
            "triggers": specs.iter().map(|s| json!({"triggerRef": s.name})).collect::<Vec<_>>()
        }
    }));
    // One JSON document per line is also YAML: one file, loaded as `-f` loads any file.
    let text: String = documents.iter().map(|d| format!("---\n{d}\n")).collect();
    std::fs::write(dir.join("bench.yaml"), text).expect("write manifests");
    specs
}

/// A current-thread tokio runtime: the benches time one core.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

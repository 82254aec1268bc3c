//! Load driver for `benches/kube_creates.sh` (BENCHMARKS.md, "Kubernetes: creates per second and
//! reload latency"): PipelineRuns created per second through the listener against a real API
//! server, the same creates issued directly with a kube client (the ceiling), and the time from
//! an edit in the cluster to the listener serving it. Not a test: it times things and asserts
//! nothing about speed.
//!
//! ```text
//! kube_creates listener URL FIXTURE SECRET CONCURRENCY SECONDS
//! kube_creates direct   OBJECT.json CONCURRENCY SECONDS          (KUBECONFIG: the API server)
//! kube_creates reload   URL FIXTURE SECRET NAMESPACE EDITS binding|listener
//! ```
//!
//! - `listener`: CONCURRENCY tasks each POST the signed GitHub delivery FIXTURE in a loop for
//!   SECONDS, every request with a delivery ID of its own (`X-GitHub-Delivery`, a UUID v4), so the
//!   idempotency feature (on by default) names and creates a new object for each. Counts the
//!   objects the answers list as created.
//! - `direct`: CONCURRENCY tasks each create OBJECT.json (a PipelineRun as the listener rendered
//!   it, server fields removed) in a loop for SECONDS through `kube::Api::create`, each with a
//!   name, delivery-ID annotation and eventID label of its own, as the listener would.
//! - `reload`: EDITS times, changes the cluster and then sends events until an object created by
//!   one carries the new value: `binding` patches the TriggerBinding `github-pr-trigger-binding`
//!   (param `revision` becomes `edit-N`); `listener` patches the EventListener
//!   `chespirito-github-el` so that `pr-trigger` uses the TriggerBinding `bench-binding-a` or
//!   `bench-binding-b` in turn (whose `revision` is `via-a` / `via-b`). Prints each latency, from
//!   the patch's answer to the answer of the first event that created the new value.
//!
//! Each mode prints one JSON line on stdout. Every loop is bounded by SECONDS or by a deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use eventlistener::interceptors::signature::sign_sha256;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

/// Deadline of one request or API call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one reload may take before the run fails.
const RELOAD_DEADLINE: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["listener", url, fixture, secret, concurrency, seconds] => {
            let event = Event::new(url, fixture, secret)?;
            let run = Run::new(concurrency, seconds)?;
            run.report("listener", listener_load(Arc::new(event), &run).await)
        }
        ["direct", object, concurrency, seconds] => {
            let object: Value = serde_json::from_slice(
                &std::fs::read(object).with_context(|| format!("cannot read {object}"))?,
            )?;
            let run = Run::new(concurrency, seconds)?;
            run.report("direct", direct_load(object, &run).await?)
        }
        ["reload", url, fixture, secret, namespace, edits, what] => {
            let event = Event::new(url, fixture, secret)?;
            reload(&event, namespace, edits.parse()?, what).await
        }
        _ => bail!("usage: see the header of benches/kube_creates.rs"),
    }
}

/// The signed delivery every request sends.
struct Event {
    client: reqwest::Client,
    url: String,
    body: bytes::Bytes,
    signature: String,
}

impl Event {
    fn new(url: &str, fixture: &str, secret: &str) -> anyhow::Result<Self> {
        let body = std::fs::read(fixture).with_context(|| format!("cannot read {fixture}"))?;
        Ok(Self {
            client: reqwest::Client::builder().timeout(CALL_TIMEOUT).build()?,
            url: url.to_owned(),
            signature: sign_sha256(secret.as_bytes(), &body),
            body: body.into(),
        })
    }

    /// POSTs the delivery with a new delivery ID; the names of the objects the answer lists as
    /// created (`PipelineRun/NS/NAME`), or the status and body of any answer but 202.
    async fn send(&self) -> anyhow::Result<Vec<String>> {
        let response = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-GitHub-Event", "pull_request")
            .header("X-GitHub-Delivery", uuid::Uuid::new_v4().to_string())
            .header("X-Hub-Signature-256", &self.signature)
            .body(self.body.clone())
            .send()
            .await?;
        let status = response.status();
        let answer: Value = serde_json::from_slice(&response.bytes().await?)?;
        if status != 202 {
            bail!("{status}: {answer}");
        }
        Ok(answer["triggers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["outcome"] == "created")
            .flat_map(|t| t["created"].as_array().cloned().unwrap_or_default())
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect())
    }
}

/// Concurrency, duration, and the latencies and errors the tasks record.
struct Run {
    concurrency: usize,
    duration: Duration,
}

/// What the tasks of one run counted: created objects, failed requests, latencies in µs.
#[derive(Default)]
struct Tally {
    created: u64,
    failed: u64,
    latencies_us: Vec<u64>,
    first_error: Option<String>,
}

impl Run {
    fn new(concurrency: &str, seconds: &str) -> anyhow::Result<Self> {
        Ok(Self {
            concurrency: concurrency.parse().context("CONCURRENCY")?,
            duration: Duration::from_secs_f64(seconds.parse().context("SECONDS")?),
        })
    }

    /// Runs `one` in CONCURRENCY tasks until the duration is over (a request in flight at the
    /// end finishes and counts); `one` answers how many objects it created.
    async fn drive<F, Fut>(&self, one: F) -> (Tally, Duration)
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<u64>> + Send,
    {
        let one = Arc::new(one);
        let sequence = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let end = started + self.duration;
        let tasks: Vec<_> = (0..self.concurrency)
            .map(|_| {
                let one = Arc::clone(&one);
                let sequence = Arc::clone(&sequence);
                tokio::spawn(async move {
                    let mut tally = Tally::default();
                    while Instant::now() < end {
                        let n = sequence.fetch_add(1, Ordering::Relaxed);
                        let sent = Instant::now();
                        match one(n).await {
                            Ok(created) => {
                                tally.created += created;
                                let us = sent.elapsed().as_micros();
                                tally
                                    .latencies_us
                                    .push(u64::try_from(us).unwrap_or(u64::MAX));
                            }
                            Err(e) => {
                                tally.failed += 1;
                                tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                            }
                        }
                    }
                    tally
                })
            })
            .collect();
        let mut total = Tally::default();
        for task in tasks {
            if let Ok(t) = task.await {
                total.created += t.created;
                total.failed += t.failed;
                total.latencies_us.extend(t.latencies_us);
                if total.first_error.is_none() {
                    total.first_error = t.first_error;
                }
            }
        }
        (total, started.elapsed())
    }

    fn report(&self, mode: &str, (mut tally, elapsed): (Tally, Duration)) -> anyhow::Result<()> {
        tally.latencies_us.sort_unstable();
        let pct = |p: f64| {
            let n = tally.latencies_us.len();
            if n == 0 {
                return 0.0;
            }
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            tally.latencies_us[i] as f64 / 1000.0
        };
        let line = json!({
            "mode": mode,
            "concurrency": self.concurrency,
            "seconds": elapsed.as_secs_f64(),
            "created": tally.created,
            "failed": tally.failed,
            "created_per_s": tally.created as f64 / elapsed.as_secs_f64(),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "first_error": tally.first_error,
        });
        println!("{line}");
        Ok(())
    }
}

async fn listener_load(event: Arc<Event>, run: &Run) -> (Tally, Duration) {
    run.drive(move |_| {
        let event = Arc::clone(&event);
        async move {
            let created = event.send().await?;
            if created.len() != 1 {
                bail!("expected one created object, the answer lists {created:?}");
            }
            Ok(1)
        }
    })
    .await
}

fn pipeline_runs() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("tekton.dev", "v1", "PipelineRun"),
        "pipelineruns",
    )
}

async fn client() -> anyhow::Result<kube::Client> {
    Ok(kube::Client::try_from(kube::Config::infer().await?)?)
}

async fn direct_load(object: Value, run: &Run) -> anyhow::Result<(Tally, Duration)> {
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .context("the object has no metadata.namespace")?
        .to_owned();
    let prefix = object["metadata"]["name"]
        .as_str()
        .and_then(|n| n.get(..n.len().saturating_sub(10)))
        .context("the object has no metadata.name")?
        .to_owned();
    let api: Api<DynamicObject> =
        Api::namespaced_with(client().await?, &namespace, &pipeline_runs());
    let object = Arc::new(object);
    let prefix = Arc::new(prefix);
    Ok(run
        .drive(move |_| {
            let (api, object, prefix) = (api.clone(), Arc::clone(&object), Arc::clone(&prefix));
            async move {
                // What the listener varies per event: the name (the listener's 10 characters of
                // SHA-256 hex, here 10 random hex digits), the delivery ID, the eventID.
                let mut object = (*object).clone();
                let delivery = uuid::Uuid::new_v4().to_string();
                let random = uuid::Uuid::new_v4().simple().to_string();
                let name = format!("{prefix}{}", &random[..10]);
                object["metadata"]["name"] = json!(name);
                object["metadata"]["annotations"]["eventlistener.dev/delivery-id"] =
                    json!(delivery);
                object["metadata"]["labels"]["triggers.tekton.dev/triggers-eventid"] =
                    json!(uuid::Uuid::new_v4().to_string());
                let body: DynamicObject = serde_json::from_value(object)?;
                tokio::time::timeout(CALL_TIMEOUT, api.create(&PostParams::default(), &body))
                    .await??;
                Ok(1)
            }
        })
        .await)
}

/// The `revision` param of the PipelineRun `PipelineRun/NS/NAME`.
async fn revision(runs: &Api<DynamicObject>, created: &str) -> anyhow::Result<String> {
    let name = created.rsplit('/').next().unwrap_or(created);
    let run = runs.get(name).await?;
    let params = run.data["spec"]["params"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    params
        .iter()
        .find(|p| p["name"] == "revision")
        .and_then(|p| p["value"].as_str())
        .map(str::to_owned)
        .context("no revision param")
}

async fn reload(event: &Event, namespace: &str, edits: usize, what: &str) -> anyhow::Result<()> {
    let client = client().await?;
    let runs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &pipeline_runs());
    let triggers = |kind: &str, plural: &str| {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("triggers.tekton.dev", "v1beta1", kind),
            plural,
        )
    };
    let bindings: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &triggers("TriggerBinding", "triggerbindings"),
    );
    let listeners: Api<DynamicObject> = Api::namespaced_with(
        client,
        namespace,
        &triggers("EventListener", "eventlisteners"),
    );
    let mut latencies_ms = Vec::new();
    let mut events_sent = Vec::new();
    // Wall-clock times (µs since the epoch) at which each patch was sent and answered, to set
    // against the listener's "configuration loaded from the cluster" log lines.
    let mut patched_us = Vec::new();
    let now_us = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros())
    };
    for edit in 1..=edits {
        let sent_us = now_us();
        let (expected, applied) = match what {
            "binding" => {
                let value = format!("edit-{edit}-{}", std::process::id());
                let patch = json!({"spec": {"params": [
                    {"name": "revision", "value": value},
                    {"name": "repo-url", "value": "$(body.repository.clone_url)"},
                ]}});
                bindings
                    .patch(
                        "github-pr-trigger-binding",
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await?;
                (value, Instant::now())
            }
            "listener" => {
                let (binding, value) = if edit % 2 == 1 {
                    ("bench-binding-a", "via-a")
                } else {
                    ("bench-binding-b", "via-b")
                };
                let mut el = listeners.get("chespirito-github-el").await?;
                let pr = el.data["spec"]["triggers"]
                    .as_array_mut()
                    .and_then(|ts| ts.iter_mut().find(|t| t["name"] == "pr-trigger"))
                    .context("no pr-trigger in the EventListener")?;
                pr["bindings"] = json!([{"ref": binding}]);
                listeners
                    .replace("chespirito-github-el", &PostParams::default(), &el)
                    .await?;
                (value.to_owned(), Instant::now())
            }
            _ => bail!("reload what: binding or listener"),
        };
        patched_us.push([sent_us, now_us()]);
        let mut sent = 0;
        loop {
            if applied.elapsed() > RELOAD_DEADLINE {
                bail!("edit {edit}: {expected:?} not served after {RELOAD_DEADLINE:?}");
            }
            sent += 1;
            let created = event.send().await?;
            let answered = applied.elapsed();
            let [created] = created.as_slice() else {
                bail!("expected one created object, the answer lists {created:?}");
            };
            if revision(&runs, created).await? == expected {
                latencies_ms.push(answered.as_secs_f64() * 1000.0);
                events_sent.push(sent);
                break;
            }
        }
    }
    let mut sorted = latencies_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let pct =
        |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    println!(
        "{}",
        json!({
            "mode": "reload",
            "edit": what,
            "edits": edits,
            "latencies_ms": latencies_ms,
            "events_sent": events_sent,
            "patched_us": patched_us,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": sorted.last(),
        })
    );
    Ok(())
}

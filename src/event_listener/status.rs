//! Cluster mode: the EventListener's status and Kubernetes Events, written back to the cluster.
//!
//! What is written (upstream's reconciler writes the same fields, `event_listener_types.go`):
//! - `status.address.url`: where the listener is reached (`--advertised-url`, else upstream's
//!   `http://el-<name>.<namespace>.svc.cluster.local:8080`, reference §8.3);
//! - `status.conditions`: one `Ready` condition. Upstream's Ready means "the Deployment is
//!   available"; ours means "a configuration serves": `True` with reason `TriggersServing` when
//!   every trigger serves, `True` with reason `TriggersInvalid` and a message naming each trigger
//!   left out and why when some are broken (the others serve), and `False` with reason
//!   `TriggersInvalid` when no trigger serves at all;
//! - a Warning Event with reason `TriggerInvalid` per trigger left out, at most once per trigger
//!   and problem every [`TRIGGER_INVALID_INTERVAL`].
//!
//! With several replicas only one writes them: the holder of the `coordination.k8s.io` Lease
//! `<name>-eventlistener-status` in the EventListener's namespace (kube-lease-manager). Status
//! patches carry the holder's identity as their field manager, so `metadata.managedFields`
//! shows which replica wrote. Writes happen only when the status changes (or on becoming the
//! holder), never on the event path; a failed write is logged and retried every
//! [`RETRY_INTERVAL`].
//!
//! Upstream's per-event Events (`EL_EVENT=enable`, reference §8.6) are recorded by every replica
//! for the events it handled: [`record_event_notices`] reads the [`EventNotice`]s the sink sends
//! without waiting.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube_lease_manager::{DurationSeconds, LeaseManagerBuilder};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::Listener;
use crate::event::{EventNotice, NoticeKind};

/// Seconds a Lease holder stays the holder without renewing it; a stopped replica's place is
/// taken within this (a replica that shuts down cleanly releases it at once).
pub const LEASE_DURATION_SECONDS: DurationSeconds = 15;

/// Seconds before the Lease expires at which its holder renews it.
pub const LEASE_GRACE_SECONDS: DurationSeconds = 5;

/// The shortest time between two `TriggerInvalid` Events for the same trigger and problem.
pub const TRIGGER_INVALID_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// How often the holder retries a failed write (and re-sends due `TriggerInvalid` Events).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(10);

/// Deadline for one round of writes, so a hung API server cannot stall shutdown.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutting down waits for the status writer to stop and release the Lease.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Capacity of the channel of [`EventNotice`]s; past it notices are dropped.
pub const NOTICE_CAPACITY: usize = 1024;

/// `reportingController` of the Events recorded.
const CONTROLLER: &str = "eventlistener";

/// Longest Event note the API accepts, in bytes.
const MAX_NOTE_BYTES: usize = 1024;

/// What the status writer writes about, and as whom.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// EventListener name.
    pub name: String,
    /// Its namespace (also the Lease's and the Events').
    pub namespace: String,
    /// `status.address.url`.
    pub advertised_url: String,
    /// This replica's Lease holder identity, Event `reportingInstance` and status field manager.
    pub identity: String,
}

impl StatusOptions {
    /// Upstream's address of an EventListener's Service: `http://el-<name>.<namespace>.svc.cluster.local:8080`.
    pub fn default_url(name: &str, namespace: &str) -> String {
        format!("http://el-{name}.{namespace}.svc.cluster.local:8080")
    }

    /// A Lease holder identity unique to this process: `pod` (the pod name, else the host name)
    /// and a random suffix, so a restarted container is never taken for its predecessor.
    pub fn identity(pod: Option<&str>) -> String {
        let pod = pod.filter(|p| !p.is_empty()).unwrap_or(CONTROLLER);
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{pod}-{}", &suffix[..8])
    }

    /// The Lease's name: `<name>-eventlistener-status`.
    pub fn lease_name(&self) -> String {
        format!("{}-eventlistener-status", self.name)
    }

    fn reference(&self, uid: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("triggers.tekton.dev/v1beta1".into()),
            kind: Some("EventListener".into()),
            name: Some(self.name.clone()),
            namespace: Some(self.namespace.clone()),
            uid: (!uid.is_empty()).then(|| uid.to_owned()),
            ..ObjectReference::default()
        }
    }

    fn reporter(&self) -> Reporter {
        Reporter {
            controller: CONTROLLER.into(),
            instance: Some(self.identity.clone()),
        }
    }
}

/// The running status writer; [`StatusWriter::stop`] releases the Lease.
#[derive(Debug)]
pub struct StatusWriter {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl StatusWriter {
    /// Starts competing for the Lease and, while holding it, writing the status of the listener
    /// `listener` receives. Never fails: API errors are logged and retried.
    pub fn start(
        client: kube::Client,
        options: StatusOptions,
        listener: watch::Receiver<Option<Arc<Listener>>>,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(client, options, listener, stopped));
        Self { stop, task }
    }

    /// Stops writing and releases the Lease, waiting at most [`RELEASE_TIMEOUT`] (the margin the
    /// chart leaves in `terminationGracePeriodSeconds`); past it the writer is aborted, which
    /// still asks the Lease manager to release.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let mut task = self.task;
        if tokio::time::timeout(RELEASE_TIMEOUT, &mut task)
            .await
            .is_err()
        {
            task.abort();
            tracing::warn!("the status writer did not stop in time");
        }
    }
}

/// A manager of the Lease `lease` in `namespace`, competed for as `identity`, with this module's
/// timings ([`LEASE_DURATION_SECONDS`], [`LEASE_GRACE_SECONDS`]); also catch-up's, whose loop one
/// replica runs.
///
/// # Errors
/// The Lease cannot be read or created (RBAC, the API server down).
pub async fn lease_manager(
    client: &kube::Client,
    lease: &str,
    namespace: &str,
    identity: &str,
) -> Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError> {
    LeaseManagerBuilder::new(client.clone(), lease)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_field_manager(format!("{CONTROLLER}-{identity}"))
        .with_duration(LEASE_DURATION_SECONDS)
        .with_grace(LEASE_GRACE_SECONDS)
        .build()
        .await
}

async fn run(
    client: kube::Client,
    options: StatusOptions,
    mut listener: watch::Receiver<Option<Arc<Listener>>>,
    mut stopped: watch::Receiver<bool>,
) {
    let lease_name = options.lease_name();
    let manager = loop {
        match lease_manager(&client, &lease_name, &options.namespace, &options.identity).await {
            Ok(manager) => break manager,
            Err(e) => {
                tracing::warn!(error = %e, lease = %lease_name, "cannot use the status Lease; retrying");
                if until_stopped(&mut stopped, tokio::time::sleep(RETRY_INTERVAL)).await {
                    return;
                }
            }
        }
    };
    let (mut leader, lease_task) = manager.watch().await;
    let mut writer = Writer::new(client, options);
    let mut holding = false;
    let mut listener_open = true;
    let mut lease_open = true;
    let mut retry = tokio::time::interval(RETRY_INTERVAL);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            changed = leader.changed(), if lease_open => {
                if changed.is_err() {
                    tracing::warn!("the status Lease manager ended; status is no longer written");
                    lease_open = false;
                    holding = false;
                    continue;
                }
                holding = *leader.borrow_and_update();
                tracing::info!(
                    identity = %writer.options.identity,
                    lease = %lease_name,
                    holding,
                    "status Lease {}", if holding { "acquired: this replica writes the status" } else { "not held" }
                );
                if holding {
                    writer.forget();
                    let current = listener.borrow().clone();
                    writer.sync(&current).await;
                }
            }
            changed = listener.changed(), if listener_open => {
                if changed.is_err() {
                    listener_open = false;
                    continue;
                }
                let current = listener.borrow_and_update().clone();
                if holding {
                    writer.sync(&current).await;
                }
            }
            _ = retry.tick() => {
                if holding {
                    let current = listener.borrow().clone();
                    writer.sync(&current).await;
                }
            }
        }
    }
    // Dropping the receiver makes the manager release the Lease and end.
    drop(leader);
    match tokio::time::timeout(RELEASE_TIMEOUT, lease_task).await {
        Ok(Ok(Ok(_))) => tracing::info!(lease = %lease_name, "status Lease released"),
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "cannot release the status Lease"),
        Ok(Err(e)) => tracing::warn!(error = %e, "the status Lease manager failed"),
        Err(_) => tracing::warn!("the status Lease was not released in time"),
    }
}

/// Waits for `work` unless a stop comes first; whether it was stopped.
async fn until_stopped(
    stopped: &mut watch::Receiver<bool>,
    work: impl Future<Output = ()>,
) -> bool {
    tokio::select! {
        _ = stopped.wait_for(|s| *s) => true,
        () = work => false,
    }
}

/// The holder's side: what was last written, and when each `TriggerInvalid` was last recorded.
struct Writer {
    api: Api<DynamicObject>,
    client: kube::Client,
    options: StatusOptions,
    /// The status last written successfully (without its time), or `None` to write again.
    written: Option<Value>,
    /// The Ready status and when it last changed (RFC 3339).
    transition: Option<(String, String)>,
    /// When a `TriggerInvalid` Event was last recorded, per (trigger, problem).
    invalid_sent: HashMap<(String, String), Instant>,
}

impl Writer {
    fn new(client: kube::Client, options: StatusOptions) -> Self {
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "triggers.tekton.dev",
            "v1beta1",
            "EventListener",
        ));
        Self {
            api: Api::namespaced_with(client.clone(), &options.namespace, &resource),
            client,
            options,
            written: None,
            transition: None,
            invalid_sent: HashMap::new(),
        }
    }

    /// Write again on the next sync (a new holder does not know what is in the cluster).
    fn forget(&mut self) {
        self.written = None;
    }

    /// Writes the status of `listener` if it changed, and records due `TriggerInvalid` Events;
    /// failures are logged and retried on the next call.
    async fn sync(&mut self, listener: &Option<Arc<Listener>>) {
        let Some(listener) = listener else {
            return;
        };
        let work = async {
            self.write_status(listener).await;
            self.record_invalid(listener).await;
        };
        if tokio::time::timeout(WRITE_TIMEOUT, work).await.is_err() {
            tracing::warn!("writing the EventListener status timed out; retrying");
            self.written = None;
        }
    }

    async fn write_status(&mut self, listener: &Listener) {
        let desired = desired_status(listener, &self.options.advertised_url);
        if self.written.as_ref() == Some(&desired) {
            return;
        }
        let ready = desired["conditions"][0]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let since = match &self.transition {
            Some((status, since)) if *status == ready => since.clone(),
            _ => {
                let now = k8s_openapi::jiff::Timestamp::now()
                    .round(k8s_openapi::jiff::Unit::Second)
                    .map_or_else(
                        |_| k8s_openapi::jiff::Timestamp::now().to_string(),
                        |t| t.to_string(),
                    );
                self.transition = Some((ready, now.clone()));
                now
            }
        };
        let mut status = desired.clone();
        status["conditions"][0]["lastTransitionTime"] = Value::String(since);
        let params = PatchParams {
            field_manager: Some(self.options.identity.clone()),
            ..PatchParams::default()
        };
        match self
            .api
            .patch_status(
                &self.options.name,
                &params,
                &Patch::Merge(json!({ "status": status })),
            )
            .await
        {
            Ok(_) => {
                tracing::info!(
                    event_listener = %self.options.name,
                    reason = desired["conditions"][0]["reason"].as_str().unwrap_or_default(),
                    "EventListener status written"
                );
                self.written = Some(desired);
            }
            Err(e) => {
                tracing::warn!(error = %e, event_listener = %self.options.name, "cannot write the EventListener status; retrying");
                self.written = None;
            }
        }
    }

    async fn record_invalid(&mut self, listener: &Listener) {
        let now = Instant::now();
        self.invalid_sent
            .retain(|_, sent| now.duration_since(*sent) < TRIGGER_INVALID_INTERVAL);
        let reference = self.options.reference(&listener.uid);
        for problem in &listener.broken {
            let key = (problem.trigger.clone(), problem.to_string());
            if self.invalid_sent.contains_key(&key) {
                continue;
            }
            // A recorder per Event: the recorder folds Events with the same reason into one
            // series whatever their note, which would hide all triggers but the first.
            let recorder = Recorder::new(self.client.clone(), self.options.reporter());
            let event = Event {
                type_: EventType::Warning,
                reason: "TriggerInvalid".into(),
                note: Some(truncate(&key.1, MAX_NOTE_BYTES)),
                action: "LeaveOutTrigger".into(),
                secondary: None,
            };
            match recorder.publish(&event, &reference).await {
                Ok(()) => {
                    self.invalid_sent.insert(key, now);
                }
                Err(e) => {
                    tracing::warn!(error = %e, trigger = %problem.trigger, "cannot record the TriggerInvalid Event; retrying");
                }
            }
        }
    }
}

/// The status the holder writes for `listener` (without `lastTransitionTime`): the address and
/// the Ready condition described in the module documentation.
pub fn desired_status(listener: &Listener, advertised_url: &str) -> Value {
    let serving = listener.triggers.len();
    let plural = |n: usize| if n == 1 { "trigger" } else { "triggers" };
    let condition = if listener.broken.is_empty() {
        json!({
            "type": "Ready",
            "status": "True",
            "reason": "TriggersServing",
            "message": format!("{serving} {} serving", plural(serving)),
        })
    } else {
        let problems: Vec<String> = listener.broken.iter().map(ToString::to_string).collect();
        let left_out = {
            let mut names: Vec<&str> = listener.broken.iter().map(|p| p.trigger.as_str()).collect();
            names.dedup();
            names.len()
        };
        json!({
            "type": "Ready",
            "status": if serving == 0 { "False" } else { "True" },
            "reason": "TriggersInvalid",
            "message": format!(
                "{serving} {} serving, {left_out} left out: {}",
                plural(serving),
                problems.join("; ")
            ),
        })
    };
    json!({
        "address": { "url": advertised_url },
        "conditions": [condition],
    })
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The sending side of the per-event notices and the task recording them.
///
/// Records upstream's per-event Kubernetes Events (`EL_EVENT=enable`, reference §8.6) on the
/// EventListener: reason the CloudEvent type, type `Normal` (`Warning` for failures), note the
/// error text (or, for `successful`, the trigger). Events are recorded one at a time in the
/// order received; repeated reasons from this replica become one Event series. Ends when every
/// sender is dropped.
pub fn record_event_notices(
    client: kube::Client,
    options: StatusOptions,
    listener: watch::Receiver<Option<Arc<Listener>>>,
) -> mpsc::Sender<EventNotice> {
    let (send, mut notices) = mpsc::channel::<EventNotice>(NOTICE_CAPACITY);
    tokio::spawn(async move {
        let recorder = Recorder::new(client, options.reporter());
        while let Some(notice) = notices.recv().await {
            let uid = listener
                .borrow()
                .as_ref()
                .map(|l| l.uid.clone())
                .unwrap_or_default();
            let reference = options.reference(&uid);
            let event = Event {
                type_: if notice.kind == NoticeKind::Failed {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: notice.kind.event_type().into(),
                note: notice.message.map(|m| truncate(&m, MAX_NOTE_BYTES)),
                action: "ProcessEvent".into(),
                secondary: None,
            };
            if let Err(e) = recorder.publish(&event, &reference).await {
                tracing::debug!(error = %e, event_id = %notice.event_id, "cannot record the Event");
            }
        }
    });
    send
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::ResolveError;

    fn listener(broken: Vec<ResolveError>) -> Listener {
        Listener {
            name: "el".into(),
            namespace: "ci".into(),
            uid: String::new(),
            triggers: Vec::new(),
            cel_reads: Arc::default(),
            body_paths: Arc::default(),
            broken,
            cloud_event_uri: None,
            trigger_groups: 0,
            payload_validation: true,
        }
    }

    #[test]
    fn the_ready_condition_names_each_broken_trigger_and_why() {
        let ok = desired_status(&listener(Vec::new()), "http://x");
        assert_eq!(ok["address"]["url"], "http://x");
        assert_eq!(ok["conditions"][0]["reason"], "TriggersServing");
        assert_eq!(ok["conditions"][0]["message"], "0 triggers serving");
        let problem = ResolveError {
            trigger: "push".into(),
            field: "template.ref".into(),
            message: "TriggerTemplate t not found".into(),
        };
        let broken = desired_status(&listener(vec![problem]), "http://x");
        let condition = &broken["conditions"][0];
        assert_eq!(condition["status"], "False", "no trigger serves");
        assert_eq!(condition["reason"], "TriggersInvalid");
        let message = condition["message"].as_str().unwrap();
        assert!(
            message.contains(r#"trigger "push": template.ref: TriggerTemplate t not found"#),
            "{message}"
        );
        assert!(
            message.starts_with("0 triggers serving, 1 left out"),
            "{message}"
        );
    }

    #[test]
    fn notes_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(
            StatusOptions::default_url("gh", "ci"),
            "http://el-gh.ci.svc.cluster.local:8080"
        );
        let id = StatusOptions::identity(Some("pod-1"));
        assert!(
            id.starts_with("pod-1-") && id.len() == "pod-1-".len() + 8,
            "{id}"
        );
        assert_ne!(id, StatusOptions::identity(Some("pod-1")));
    }
}

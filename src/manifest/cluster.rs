//! Objects read from the cluster: watches of the Triggers kinds (kube-runtime watchers, default
//! list-then-watch mode, which every API server serves) kept as a [`Catalog`] snapshot that is
//! rebuilt on every change once each kind has finished its first full list.
//!
//! Recovery: a watch that fails (the API server unreachable, `410 Expired`, a dropped
//! connection) is replaced by a new one that lists from scratch after a short backoff
//! ([`RELIST_MIN_DELAY`] doubling to [`RELIST_MAX_DELAY`], plus jitter of up to as much again),
//! so the objects are current again within a few seconds of the API server's return. (kube-runtime's
//! default backoff, client-go's, grows to 30 s and resets only after 2 minutes: a minute-long
//! outage left the configuration stale for up to another minute.)
//!
//! Namespaced kinds are watched in the EventListener's namespace; ClusterTriggerBindings
//! everywhere. Secrets are not watched (they are read on demand, `secrets::KubeSecrets`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use backon::BackoffBuilder as _;
use futures::StreamExt as _;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Catalog, Origin, Undecodable, files::add_document};
use crate::api::TRIGGERS_GROUP;

/// The kinds watched: (kind, plural, namespaced).
const KINDS: [(&str, &str, bool); 5] = [
    ("EventListener", "eventlisteners", true),
    ("Trigger", "triggers", true),
    ("TriggerBinding", "triggerbindings", true),
    ("TriggerTemplate", "triggertemplates", true),
    ("ClusterTriggerBinding", "clustertriggerbindings", false),
];
/// The version read; v1alpha1 objects are served as v1beta1 too (same JSON, reference §1.1).
const VERSION: &str = "v1beta1";

/// First wait before a failed watch lists again.
pub const RELIST_MIN_DELAY: Duration = Duration::from_millis(200);
/// Longest wait between two attempts to list a kind again (before jitter, which adds up to as
/// much again).
pub const RELIST_MAX_DELAY: Duration = Duration::from_secs(2);

/// What [`follow`] reports.
#[derive(Debug)]
pub enum Update {
    /// A fresh catalog: after the first full sync of every kind and after every change that
    /// follows (bursts are coalesced). Objects that do not decode are left out of it and listed
    /// in [`Catalog::undecodable`].
    Snapshot(Catalog),
    /// The watch of `kind` failed while every watch was healthy: the objects held may be stale
    /// from now on. It lists again after a short backoff (module docs).
    Lost {
        /// The kind whose watch failed first.
        kind: &'static str,
        /// What failed, for logs and `/ready`.
        error: String,
    },
    /// Every watch that failed has listed again (reported after the snapshot built from those
    /// lists): what is held is current.
    Recovered,
}

enum Change {
    Restart(&'static str),
    Failed(&'static str, String),
    Listed(&'static str, Value),
    ListDone(&'static str),
    Applied(&'static str, Value),
    Deleted(&'static str, Value),
}

/// Where an object read from the cluster came from, for messages: `cluster Trigger ci/name`.
pub(crate) fn cluster_origin(kind: &str, namespace: &str, name: &str) -> Origin {
    let place = if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    };
    Origin {
        file: PathBuf::from(format!("cluster {kind} {place}")),
        document: 0,
    }
}

fn key_of(value: &Value) -> String {
    let meta = &value["metadata"];
    format!(
        "{}/{}",
        meta["namespace"].as_str().unwrap_or_default(),
        meta["name"].as_str().unwrap_or_default()
    )
}

/// Watches the Triggers kinds and reports every [`Update`] to `on_update`: snapshots, and
/// watches lost and recovered. Runs until the task is dropped (failed watches list again, with
/// the backoff of the module docs, for ever).
pub async fn follow(client: Client, namespace: String, mut on_update: impl FnMut(Update)) {
    let (tx, mut rx) = mpsc::channel::<Change>(1024);
    for (kind, plural, namespaced) in KINDS {
        let resource = ApiResource {
            group: TRIGGERS_GROUP.to_owned(),
            version: VERSION.to_owned(),
            api_version: format!("{TRIGGERS_GROUP}/{VERSION}"),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
        };
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(client.clone(), &namespace, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        tokio::spawn(watch_kind(api, kind, tx.clone()));
    }
    drop(tx);

    let mut objects: BTreeMap<&'static str, BTreeMap<String, Value>> = BTreeMap::new();
    let mut listing: BTreeMap<&'static str, BTreeMap<String, Value>> = BTreeMap::new();
    let mut synced: HashSet<&'static str> = HashSet::new();
    // Kinds whose watch failed and has not listed again since.
    let mut failing: BTreeSet<&'static str> = BTreeSet::new();
    while let Some(first) = rx.recv().await {
        let mut change = Some(first);
        let mut dirty = false;
        let mut recovered = false;
        // Apply everything already queued before rebuilding: a burst makes one snapshot.
        while let Some(c) = change.take() {
            match c {
                Change::Restart(kind) => {
                    listing.insert(kind, BTreeMap::new());
                }
                Change::Listed(kind, v) => {
                    listing.entry(kind).or_default().insert(key_of(&v), v);
                }
                Change::Failed(kind, error) => {
                    if failing.is_empty() {
                        on_update(Update::Lost { kind, error });
                    }
                    failing.insert(kind);
                }
                Change::ListDone(kind) => {
                    objects.insert(kind, listing.remove(kind).unwrap_or_default());
                    synced.insert(kind);
                    dirty = true;
                    recovered |= failing.remove(kind) && failing.is_empty();
                }
                Change::Applied(kind, v) => {
                    objects.entry(kind).or_default().insert(key_of(&v), v);
                    dirty = true;
                }
                Change::Deleted(kind, v) => {
                    objects.entry(kind).or_default().remove(&key_of(&v));
                    dirty = true;
                }
            }
            change = rx.try_recv().ok();
        }
        if dirty && synced.len() == KINDS.len() {
            on_update(Update::Snapshot(snapshot(&objects)));
        }
        if recovered && failing.is_empty() {
            on_update(Update::Recovered);
        }
    }
}

/// Follows one kind: a kube-runtime watcher, replaced by a new one (which lists from scratch)
/// whenever it fails, after the backoff of the module docs; the backoff starts over after each
/// complete list. Ends when nobody receives its changes.
async fn watch_kind(api: Api<DynamicObject>, kind: &'static str, tx: mpsc::Sender<Change>) {
    let backoff = || {
        backon::ExponentialBuilder::default()
            .with_min_delay(RELIST_MIN_DELAY)
            .with_max_delay(RELIST_MAX_DELAY)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
    };
    let mut delays = backoff();
    // Failures since the last complete list: the first is a warning, repeats are debug lines.
    let mut failures = 0_u32;
    let to_value = |o: DynamicObject| {
        let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.insert(
                "apiVersion".into(),
                format!("{TRIGGERS_GROUP}/{VERSION}").into(),
            );
            map.insert("kind".into(), kind.into());
        }
        v
    };
    loop {
        let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
        let error = loop {
            let change = match events.next().await {
                Some(Ok(watcher::Event::Init)) => Change::Restart(kind),
                Some(Ok(watcher::Event::InitApply(o))) => Change::Listed(kind, to_value(o)),
                Some(Ok(watcher::Event::InitDone)) => {
                    delays = backoff();
                    failures = 0;
                    Change::ListDone(kind)
                }
                Some(Ok(watcher::Event::Apply(o))) => Change::Applied(kind, to_value(o)),
                Some(Ok(watcher::Event::Delete(o))) => Change::Deleted(kind, to_value(o)),
                Some(Err(e)) => break e.to_string(),
                // A watcher never ends on its own; if it did, list again.
                None => break "the watch ended".to_owned(),
            };
            if tx.send(change).await.is_err() {
                return;
            }
        };
        let delay = delays.next().unwrap_or(RELIST_MAX_DELAY);
        failures = failures.saturating_add(1);
        if failures == 1 {
            tracing::warn!(kind, %error, retry_in = ?delay, "watch failed; listing again");
        } else {
            tracing::debug!(kind, %error, retry_in = ?delay, failures, "watch failed again");
        }
        if tx.send(Change::Failed(kind, error)).await.is_err() {
            return;
        }
        tokio::time::sleep(delay).await;
    }
}

/// The catalog of every object held; an object that does not decode is left out and listed in
/// [`Catalog::undecodable`] (naming the field), so that only what references it is affected.
fn snapshot(objects: &BTreeMap<&'static str, BTreeMap<String, Value>>) -> Catalog {
    let mut catalog = Catalog::default();
    for (kind, items) in objects {
        for value in items.values() {
            let meta = &value["metadata"];
            let namespace = meta["namespace"].as_str().unwrap_or_default();
            let name = meta["name"].as_str().unwrap_or_default();
            let origin = cluster_origin(kind, namespace, name);
            if let Err(e) = add_document(&mut catalog, origin, value.clone()) {
                let error = match e {
                    super::Error::Field { field, message, .. } => {
                        format!("field {field}: {message}")
                    }
                    other => other.to_string(),
                };
                catalog.undecodable.push(Undecodable {
                    kind: (*kind).to_owned(),
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    error,
                });
            }
        }
    }
    catalog
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn snapshot_decodes_each_kind_and_lists_the_objects_that_do_not_decode() {
        let mut objects = BTreeMap::new();
        let binding = json!({"apiVersion": "triggers.tekton.dev/v1beta1", "kind": "TriggerBinding",
            "metadata": {"name": "b", "namespace": "ci"}, "spec": {"params": [{"name": "x", "value": "$(body.x)"}]}});
        let broken = json!({"apiVersion": "triggers.tekton.dev/v1beta1", "kind": "TriggerBinding",
            "metadata": {"name": "bad", "namespace": "ci"}, "spec": {"params": 3}});
        objects.insert(
            "TriggerBinding",
            BTreeMap::from([(key_of(&binding), binding), (key_of(&broken), broken)]),
        );
        let catalog = snapshot(&objects);
        assert_eq!(catalog.trigger_bindings.len(), 1);
        assert!(catalog.trigger_binding("ci", "ci", "b").is_some());
        assert!(catalog.trigger_binding("ci", "ci", "bad").is_none());
        assert_eq!(
            catalog.trigger_bindings[0].origin.to_string(),
            "cluster TriggerBinding ci/b"
        );
        let missing = catalog.missing("TriggerBinding", "ci", "bad");
        assert!(
            missing.starts_with("TriggerBinding ci/bad does not decode: field spec.params: "),
            "{missing}"
        );
        assert_eq!(
            catalog.missing("TriggerBinding", "ci", "gone"),
            "TriggerBinding ci/gone not found"
        );
    }
}

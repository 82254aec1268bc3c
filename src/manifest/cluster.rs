//! Objects read from the cluster: watches of the Triggers kinds (kube-runtime watchers, default
//! list-then-watch mode, which every API server serves) kept as a [`Catalog`] snapshot that is
//! rebuilt on every change once each kind has finished its first full list.
//!
//! Namespaced kinds are watched in the EventListener's namespace; ClusterTriggerBindings
//! everywhere. Secrets are not watched (they are read on demand, `secrets::KubeSecrets`).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use futures::StreamExt as _;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Catalog, Origin, files::add_document};
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

enum Change {
    Restart(&'static str),
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

/// Watches the Triggers kinds and calls `on_snapshot` with a fresh [`Catalog`] after the first
/// full sync of every kind and after every change that follows (bursts are coalesced), or with
/// every object that does not decode (the snapshot is then incomplete and must not be used).
/// Runs until the watches end (they retry with backoff, so in practice until the task is
/// dropped).
pub async fn follow(
    client: Client,
    namespace: String,
    mut on_snapshot: impl FnMut(Result<Catalog, Vec<super::Error>>),
) {
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
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = events.next().await {
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
                let change = match event {
                    Ok(watcher::Event::Init) => Change::Restart(kind),
                    Ok(watcher::Event::InitApply(o)) => Change::Listed(kind, to_value(o)),
                    Ok(watcher::Event::InitDone) => Change::ListDone(kind),
                    Ok(watcher::Event::Apply(o)) => Change::Applied(kind, to_value(o)),
                    Ok(watcher::Event::Delete(o)) => Change::Deleted(kind, to_value(o)),
                    Err(e) => {
                        tracing::warn!(kind, error = %e, "watch failed; retrying");
                        continue;
                    }
                };
                if tx.send(change).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);

    let mut objects: BTreeMap<&'static str, BTreeMap<String, Value>> = BTreeMap::new();
    let mut listing: BTreeMap<&'static str, BTreeMap<String, Value>> = BTreeMap::new();
    let mut synced: HashSet<&'static str> = HashSet::new();
    while let Some(first) = rx.recv().await {
        let mut change = Some(first);
        let mut dirty = false;
        // Apply everything already queued before rebuilding: a burst makes one snapshot.
        while let Some(c) = change.take() {
            match c {
                Change::Restart(kind) => {
                    listing.insert(kind, BTreeMap::new());
                }
                Change::Listed(kind, v) => {
                    listing.entry(kind).or_default().insert(key_of(&v), v);
                }
                Change::ListDone(kind) => {
                    objects.insert(kind, listing.remove(kind).unwrap_or_default());
                    synced.insert(kind);
                    dirty = true;
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
            on_snapshot(snapshot(&objects));
        }
    }
}

/// The catalog of every object held, or every object that does not decode (naming the object
/// and field): a configuration missing one of them must not go live.
fn snapshot(
    objects: &BTreeMap<&'static str, BTreeMap<String, Value>>,
) -> Result<Catalog, Vec<super::Error>> {
    let mut catalog = Catalog::default();
    let mut errors = Vec::new();
    for (kind, items) in objects {
        for value in items.values() {
            let meta = &value["metadata"];
            let origin = cluster_origin(
                kind,
                meta["namespace"].as_str().unwrap_or_default(),
                meta["name"].as_str().unwrap_or_default(),
            );
            if let Err(e) = add_document(&mut catalog, origin, value.clone()) {
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        Ok(catalog)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn snapshot_decodes_each_kind_and_refuses_broken_objects() {
        let mut objects = BTreeMap::new();
        let binding = json!({"apiVersion": "triggers.tekton.dev/v1beta1", "kind": "TriggerBinding",
            "metadata": {"name": "b", "namespace": "ci"}, "spec": {"params": [{"name": "x", "value": "$(body.x)"}]}});
        let broken = json!({"apiVersion": "triggers.tekton.dev/v1beta1", "kind": "TriggerBinding",
            "metadata": {"name": "bad", "namespace": "ci"}, "spec": {"params": 3}});
        objects.insert(
            "TriggerBinding",
            BTreeMap::from([(key_of(&binding), binding), (key_of(&broken), broken)]),
        );
        let errors = snapshot(&objects).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .to_string()
                .starts_with("cluster TriggerBinding ci/bad"),
            "{}",
            errors[0]
        );
        objects
            .get_mut("TriggerBinding")
            .unwrap()
            .retain(|k, _| k == "ci/b");
        let catalog = snapshot(&objects).unwrap();
        assert_eq!(catalog.trigger_bindings.len(), 1);
        assert!(catalog.trigger_binding("ci", "ci", "b").is_some());
        assert_eq!(
            catalog.trigger_bindings[0].origin.to_string(),
            "cluster TriggerBinding ci/b"
        );
    }
}

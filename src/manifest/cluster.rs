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
//! What is watched: the EventListener in its namespace; Triggers, TriggerBindings and
//! TriggerTemplates in the EventListener's namespace and in every namespace its
//! `namespaceSelector` names (all namespaces for exactly `["*"]`, reference §2.6), started and
//! stopped as the EventListener changes; ClusterTriggerBindings and ClusterInterceptors
//! everywhere; Interceptors in the EventListener's namespace (where `kind:
//! NamespacedInterceptor` references are looked up, reference §1.1). Secrets are not
//! watched (they are read on demand, `secrets::KubeSecrets`). The first snapshot waits until
//! every watch has listed once or failed once, so a namespace the listener may not read (RBAC)
//! delays nothing: it is reported as a lost watch and retried.

use std::collections::{BTreeMap, BTreeSet};
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

/// The kinds watched: (kind, plural).
const EVENT_LISTENER: (&str, &str) = ("EventListener", "eventlisteners");
const CLUSTER_TRIGGER_BINDING: (&str, &str) = ("ClusterTriggerBinding", "clustertriggerbindings");
/// Served as v1alpha1 only ([`INTERCEPTOR_VERSION`]).
const CLUSTER_INTERCEPTOR: (&str, &str) = ("ClusterInterceptor", "clusterinterceptors");
/// Served as v1alpha1 only ([`INTERCEPTOR_VERSION`]); watched in the EventListener's namespace.
const INTERCEPTOR: (&str, &str) = ("Interceptor", "interceptors");
/// The kinds a Trigger and what it references are made of, watched in the EventListener's
/// namespace and in each namespace its `namespaceSelector` selects.
const TRIGGER_KINDS: [(&str, &str); 3] = [
    ("Trigger", "triggers"),
    ("TriggerBinding", "triggerbindings"),
    ("TriggerTemplate", "triggertemplates"),
];
/// The version read; v1alpha1 objects are served as v1beta1 too (same JSON, reference §1.1).
const VERSION: &str = "v1beta1";
/// The version of ClusterInterceptor and Interceptor: upstream serves them as v1alpha1 only.
const INTERCEPTOR_VERSION: &str = "v1alpha1";

/// The version `kind` is read as.
fn version_of(kind: &str) -> &'static str {
    if kind == CLUSTER_INTERCEPTOR.0 || kind == INTERCEPTOR.0 {
        INTERCEPTOR_VERSION
    } else {
        VERSION
    }
}

/// Where one watch looks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// One namespace.
    Namespace(String),
    /// Every namespace (cluster-scoped kinds, and `namespaceSelector.matchNames: ["*"]`).
    All,
}

/// One watch: a kind in a scope.
type Target = (&'static str, &'static str, Scope);

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

/// What a watch reports, tagged with the watch's serial number (a stopped watch's late reports
/// are ignored).
enum Change {
    Restart,
    Failed(String),
    Listed(Value),
    ListDone,
    Applied(Value),
    Deleted(Value),
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

/// The state of one running watch.
struct Watch {
    kind: &'static str,
    task: tokio::task::JoinHandle<()>,
    /// Its objects, by `namespace/name`, as of its last list and the changes since.
    objects: BTreeMap<String, Value>,
    /// A list under way (`Restart` seen, `ListDone` not yet).
    listing: Option<BTreeMap<String, Value>>,
    /// Listed once, or failed once: the first snapshot does not wait for it any longer.
    settled: bool,
    /// Failed and not listed since.
    failing: bool,
}

/// Watches the Triggers kinds for the EventListener `listener` of `namespace` (module docs) and
/// reports every [`Update`] to `on_update`: snapshots, and watches lost and recovered. Runs
/// until the task is dropped (failed watches list again, with the backoff of the module docs,
/// for ever).
pub async fn follow(
    client: Client,
    namespace: String,
    listener: String,
    mut on_update: impl FnMut(Update),
) {
    let (tx, mut rx) = mpsc::channel::<(u64, Change)>(1024);
    let mut watches: BTreeMap<u64, Watch> = BTreeMap::new();
    let mut running: BTreeMap<Target, u64> = BTreeMap::new();
    let mut serials = 0_u64;
    let mut start = |target: &Target, watches: &mut BTreeMap<u64, Watch>| {
        serials += 1;
        let (kind, plural, scope) = target;
        let version = version_of(kind);
        let resource = ApiResource {
            group: TRIGGERS_GROUP.to_owned(),
            version: version.to_owned(),
            api_version: format!("{TRIGGERS_GROUP}/{version}"),
            kind: (*kind).to_owned(),
            plural: (*plural).to_owned(),
        };
        let api: Api<DynamicObject> = match scope {
            Scope::Namespace(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            Scope::All => Api::all_with(client.clone(), &resource),
        };
        let task = tokio::spawn(watch_kind(api, kind, serials, tx.clone()));
        watches.insert(
            serials,
            Watch {
                kind,
                task,
                objects: BTreeMap::new(),
                listing: None,
                settled: false,
                failing: false,
            },
        );
        serials
    };
    for target in wanted(&namespace, None) {
        let serial = start(&target, &mut watches);
        running.insert(target, serial);
    }

    let listener_key = format!("{namespace}/{listener}");
    let mut lost = false;
    while let Some(first) = rx.recv().await {
        let mut change = Some(first);
        let mut dirty = false;
        // Apply everything already queued before rebuilding: a burst makes one snapshot.
        while let Some((serial, c)) = change.take() {
            if let Some(watch) = watches.get_mut(&serial) {
                match c {
                    Change::Restart => watch.listing = Some(BTreeMap::new()),
                    Change::Listed(v) => {
                        watch.listing.get_or_insert_default().insert(key_of(&v), v);
                    }
                    Change::Failed(error) => {
                        watch.settled = true;
                        watch.failing = true;
                        if !lost {
                            lost = true;
                            on_update(Update::Lost {
                                kind: watch.kind,
                                error,
                            });
                        }
                        dirty = true;
                    }
                    Change::ListDone => {
                        watch.objects = watch.listing.take().unwrap_or_default();
                        watch.settled = true;
                        watch.failing = false;
                        dirty = true;
                    }
                    Change::Applied(v) => {
                        watch.objects.insert(key_of(&v), v);
                        dirty = true;
                    }
                    Change::Deleted(v) => {
                        watch.objects.remove(&key_of(&v));
                        dirty = true;
                    }
                }
            }
            change = rx.try_recv().ok();
        }
        if !dirty {
            continue;
        }
        // The namespaces the EventListener selects now: start and stop watches to match.
        let event_listener = watches
            .values()
            .filter(|w| w.kind == EVENT_LISTENER.0)
            .find_map(|w| w.objects.get(&listener_key));
        let targets = wanted(&namespace, event_listener);
        let stale: Vec<Target> = running
            .keys()
            .filter(|t| !targets.contains(t))
            .cloned()
            .collect();
        for target in stale {
            if let Some(watch) = running.remove(&target).and_then(|s| watches.remove(&s)) {
                watch.task.abort();
            }
        }
        for target in targets {
            if let std::collections::btree_map::Entry::Vacant(slot) = running.entry(target) {
                let serial = start(slot.key(), &mut watches);
                slot.insert(serial);
            }
        }
        if watches.values().all(|w| w.settled) {
            on_update(Update::Snapshot(snapshot(
                watches.values().map(|w| (w.kind, &w.objects)),
            )));
        }
        if lost && watches.values().all(|w| !w.failing) {
            lost = false;
            on_update(Update::Recovered);
        }
    }
}

/// The watches for the EventListener `event_listener` (a JSON object, `None` until it is
/// listed) of `namespace`: its own kind, Interceptors there, and the cluster-scoped kinds
/// always, the Trigger kinds in
/// its namespace and in those its `namespaceSelector` names (or everywhere).
fn wanted(namespace: &str, event_listener: Option<&Value>) -> BTreeSet<Target> {
    let own = Scope::Namespace(namespace.to_owned());
    let mut targets = BTreeSet::from([
        (EVENT_LISTENER.0, EVENT_LISTENER.1, own.clone()),
        (
            CLUSTER_TRIGGER_BINDING.0,
            CLUSTER_TRIGGER_BINDING.1,
            Scope::All,
        ),
        (CLUSTER_INTERCEPTOR.0, CLUSTER_INTERCEPTOR.1, Scope::All),
        (INTERCEPTOR.0, INTERCEPTOR.1, own.clone()),
    ]);
    // The EventListener's namespaceSelector and each trigger group's.
    let selectors = event_listener.into_iter().flat_map(|el| {
        let groups = el["spec"]["triggerGroups"].as_array().into_iter().flatten();
        std::iter::once(&el["spec"]["namespaceSelector"])
            .chain(groups.map(|g| &g["triggerSelector"]["namespaceSelector"]))
    });
    let mut scopes = BTreeSet::from([own]);
    for selector in selectors {
        let names: Vec<&str> = selector["matchNames"]
            .as_array()
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match names.as_slice() {
            ["*"] => scopes.insert(Scope::All),
            names => {
                scopes.extend(
                    names
                        .iter()
                        // "*" among other names is a literal name (§2.6), which no namespace has.
                        .filter(|n| !n.is_empty() && **n != "*")
                        .map(|n| Scope::Namespace((*n).to_owned())),
                );
                false
            }
        };
    }
    if scopes.contains(&Scope::All) {
        scopes = BTreeSet::from([Scope::All]);
    }
    for scope in scopes {
        for (kind, plural) in TRIGGER_KINDS {
            targets.insert((kind, plural, scope.clone()));
        }
    }
    targets
}

/// Follows one kind: a kube-runtime watcher, replaced by a new one (which lists from scratch)
/// whenever it fails, after the backoff of the module docs; the backoff starts over after each
/// complete list. Ends when nobody receives its changes.
async fn watch_kind(
    api: Api<DynamicObject>,
    kind: &'static str,
    serial: u64,
    tx: mpsc::Sender<(u64, Change)>,
) {
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
                format!("{TRIGGERS_GROUP}/{}", version_of(kind)).into(),
            );
            map.insert("kind".into(), kind.into());
        }
        v
    };
    loop {
        let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
        let error = loop {
            let change = match events.next().await {
                Some(Ok(watcher::Event::Init)) => Change::Restart,
                Some(Ok(watcher::Event::InitApply(o))) => Change::Listed(to_value(o)),
                Some(Ok(watcher::Event::InitDone)) => {
                    delays = backoff();
                    failures = 0;
                    Change::ListDone
                }
                Some(Ok(watcher::Event::Apply(o))) => Change::Applied(to_value(o)),
                Some(Ok(watcher::Event::Delete(o))) => Change::Deleted(to_value(o)),
                Some(Err(e)) => break e.to_string(),
                // A watcher never ends on its own; if it did, list again.
                None => break "the watch ended".to_owned(),
            };
            if tx.send((serial, change)).await.is_err() {
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
        if tx.send((serial, Change::Failed(error))).await.is_err() {
            return;
        }
        tokio::time::sleep(delay).await;
    }
}

/// The catalog of every object held; an object that does not decode is left out and listed in
/// [`Catalog::undecodable`] (naming the field), so that only what references it is affected.
fn snapshot<'a>(held: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, Value>)>) -> Catalog {
    // An object seen by two watches (its namespace's and every namespace's) counts once.
    let mut objects: BTreeMap<(&str, &str), &Value> = BTreeMap::new();
    for (kind, items) in held {
        for (key, value) in items {
            objects.insert((kind, key), value);
        }
    }
    let mut catalog = Catalog::default();
    for ((kind, _), value) in objects {
        {
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
                    kind: kind.to_owned(),
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
    fn watches_follow_the_namespace_selector() {
        let scopes = |el: Option<Value>| -> BTreeSet<(&'static str, Scope)> {
            wanted("ci", el.as_ref())
                .into_iter()
                .map(|(kind, _, scope)| (kind, scope))
                .collect()
        };
        let ns = |n: &str| Scope::Namespace(n.to_owned());
        let own = scopes(None);
        assert_eq!(
            own,
            BTreeSet::from([
                ("EventListener", ns("ci")),
                ("ClusterTriggerBinding", Scope::All),
                ("ClusterInterceptor", Scope::All),
                ("Interceptor", ns("ci")),
                ("Trigger", ns("ci")),
                ("TriggerBinding", ns("ci")),
                ("TriggerTemplate", ns("ci")),
            ])
        );
        let labels_only = json!({"spec": {"labelSelector": {"matchLabels": {"team": "a"}}}});
        assert_eq!(scopes(Some(labels_only)), own);
        let two = scopes(Some(
            json!({"spec": {"namespaceSelector": {"matchNames": ["a", "ci", "b"]}}}),
        ));
        for n in ["a", "b", "ci"] {
            for kind in ["Trigger", "TriggerBinding", "TriggerTemplate"] {
                assert!(two.contains(&(kind, ns(n))), "{kind} in {n}: {two:?}");
            }
        }
        assert_eq!(two.len(), 13);
        let all = scopes(Some(
            json!({"spec": {"namespaceSelector": {"matchNames": ["*"]}}}),
        ));
        assert!(all.contains(&("Trigger", Scope::All)), "{all:?}");
        assert!(!all.contains(&("Trigger", ns("ci"))), "{all:?}");
        assert!(all.contains(&("EventListener", ns("ci"))), "{all:?}");
        // "*" among names is a literal name, as upstream, which no namespace can have.
        let mixed = scopes(Some(
            json!({"spec": {"namespaceSelector": {"matchNames": ["*", "a"]}}}),
        ));
        assert!(mixed.contains(&("Trigger", ns("a"))), "{mixed:?}");
        assert!(
            !mixed
                .iter()
                .any(|(k, s)| *s == ns("*") || (*k == "Trigger" && *s == Scope::All)),
            "{mixed:?}"
        );
        // Trigger groups select Triggers too: their namespaces are watched as well.
        let grouped = scopes(Some(json!({"spec": {
            "namespaceSelector": {"matchNames": ["a"]},
            "triggerGroups": [
                {"name": "g", "triggerSelector": {"namespaceSelector": {"matchNames": ["g1"]}}},
                {"name": "h", "triggerSelector": {"labelSelector": {"matchLabels": {"x": "y"}}}}
            ]
        }})));
        for n in ["a", "ci", "g1"] {
            assert!(grouped.contains(&("Trigger", ns(n))), "{n}: {grouped:?}");
        }
        assert_eq!(grouped.len(), 13, "{grouped:?}");
        let group_all = scopes(Some(json!({"spec": {"triggerGroups": [
            {"name": "g", "triggerSelector": {"namespaceSelector": {"matchNames": ["*"]}}}
        ]}})));
        assert!(
            group_all.contains(&("Trigger", Scope::All)),
            "{group_all:?}"
        );
        assert!(!group_all.contains(&("Trigger", ns("ci"))), "{group_all:?}");
    }

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
        let catalog = snapshot(objects.iter().map(|(kind, items)| (*kind, items)));
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

//! The loaded configuration: [`Listener`], and the handle the server reads it through.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use crate::trigger::{ResolveError, ResolvedTrigger};

/// A loaded EventListener.
#[derive(Debug)]
pub struct Listener {
    /// EventListener name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// `metadata.uid` from the manifest, or empty (returned as `eventListenerUID`).
    pub uid: String,
    /// Its triggers, in `spec.triggers` order.
    pub triggers: Vec<Arc<ResolvedTrigger>>,
    /// How many trigger groups its triggers belong to (one past the highest
    /// [`crate::trigger::TriggerGroup::index`]; 0 without groups): each event keeps one result
    /// per group.
    pub trigger_groups: usize,
    /// The parts of the body and the headers that its interceptors read as CEL data, all
    /// triggers merged: events convert only these (`SharedEvent::with_cel_reads`).
    pub cel_reads: Arc<crate::cel::Reads>,
    /// The parts of the body that anything of its triggers reads, CEL and bindings merged:
    /// events build only these into a tree (`SharedEvent::reading`).
    pub body_paths: Arc<crate::event::BodyPaths>,
    /// Cluster mode only: the problems of the triggers left out because their references are
    /// missing or invalid (the others serve). Always empty in file mode, which refuses a
    /// broken configuration at load instead.
    pub broken: Vec<ResolveError>,
    /// `spec.cloudEventURI`, checked to be an absolute `http` or `https` URL: where the
    /// CloudEvents about each event go (unless `--cloudevent-uri` says otherwise), or `None`.
    pub cloud_event_uri: Option<Arc<str>>,
    /// Whether bodies must be JSON objects (reference §1.2, §2.2): `false` when the
    /// EventListener is annotated `tekton.dev/payload-validation: "false"` (the sink then takes
    /// any body, e.g. Slack's form-encoded ones), else `true`.
    pub payload_validation: bool,
}

/// The EventListener the server runs now, shared by every request. In file mode it never
/// changes; in cluster mode it is replaced whole when a new configuration compiles (the last good
/// one is kept otherwise), and it is absent until the first full sync.
#[derive(Debug, Clone)]
pub struct ListenerHandle {
    current: watch::Receiver<Option<Arc<Listener>>>,
    refused: watch::Receiver<u64>,
    freshness: watch::Receiver<Freshness>,
    name: String,
    namespace: String,
}

/// How current the configuration in service is (`/ready` says it): when it was put in service
/// and, in cluster mode, whether the watches that follow it are healthy.
#[derive(Debug, Clone, Default)]
pub struct Freshness {
    /// When the configuration in service was put in service; `None` before the first.
    pub loaded_at: Option<Instant>,
    /// Configurations put in service so far (1 after the first).
    pub generation: u64,
    /// Whether the configuration follows the cluster (`false`: files, loaded once).
    pub followed: bool,
    /// Cluster mode: since when a watch has been failing (the configuration may be stale from
    /// then on) and its error; `None` while every watch is current.
    pub stale_since: Option<(Instant, String)>,
}

impl Freshness {
    /// How stale the configuration may be at `now` (`eventlistener_config_age_seconds`): from
    /// files, the time since they were loaded; from the cluster, zero while every watch is in
    /// sync, else the time since one was lost; zero before the first load.
    pub fn age(&self, now: Instant) -> std::time::Duration {
        let since = if self.followed {
            self.stale_since.as_ref().map(|(since, _)| *since)
        } else {
            self.loaded_at
        };
        since.map_or(std::time::Duration::ZERO, |at| {
            now.saturating_duration_since(at)
        })
    }

    /// One line for `/ready`, durations in whole seconds up to `now`: `configuration loaded 12 s
    /// ago`, then `, in sync with the cluster` or `; not in sync for 31 s (ERROR), serving it
    /// until the cluster answers`.
    pub fn describe(&self, now: Instant) -> String {
        let seconds = |since: Instant| now.saturating_duration_since(since).as_secs();
        let mut line = match self.loaded_at {
            Some(at) => format!("configuration loaded {} s ago", seconds(at)),
            None => "no configuration loaded yet".to_owned(),
        };
        match (&self.stale_since, self.followed) {
            (Some((since, error)), _) => line.push_str(&format!(
                "; not in sync with the cluster for {} s ({error}), serving the last good \
                 configuration until the cluster answers",
                seconds(*since)
            )),
            (None, true) => line.push_str(", in sync with the cluster"),
            (None, false) => {}
        }
        line
    }
}

/// The sending side of [`ListenerHandle::channel`], given to [`follow_cluster`]: puts new
/// configurations in service and counts the ones it refuses.
#[derive(Debug)]
pub struct ListenerPublisher {
    current: watch::Sender<Option<Arc<Listener>>>,
    refused: watch::Sender<u64>,
    freshness: watch::Sender<Freshness>,
}

impl Listener {
    /// `event` as its triggers share it: converting for CEL only what the CEL expressions read
    /// ([`Self::cel_reads`]) and building of the body only what anything reads
    /// ([`Self::body_paths`]).
    pub fn share(&self, event: Arc<crate::event::Event>) -> crate::interceptors::SharedEvent {
        crate::interceptors::SharedEvent::with_cel_reads(event, Arc::clone(&self.cel_reads))
            .reading(Arc::clone(&self.body_paths))
    }
}

impl ListenerPublisher {
    /// Replaces the listener in service with `listener`: events accepted from now on use it.
    pub fn publish(&self, listener: Listener) {
        self.current.send_replace(Some(Arc::new(listener)));
        self.freshness.send_modify(|f| {
            f.loaded_at = Some(Instant::now());
            f.generation += 1;
        });
    }

    /// The source stopped answering (`error`): the listener in service may be stale from now on
    /// (the first call of an outage sets the time; later ones change nothing).
    pub fn lost(&self, error: String) {
        self.freshness.send_if_modified(|f| {
            let first = f.stale_since.is_none();
            if first {
                f.stale_since = Some((Instant::now(), error));
            }
            first
        });
    }

    /// The source answers again and the listener in service is current.
    pub fn recovered(&self) {
        self.freshness
            .send_if_modified(|f| f.stale_since.take().is_some());
    }

    /// Counts one configuration that was refused; the listener in service stays.
    pub fn refuse(&self) {
        self.refused.send_modify(|n| *n = n.saturating_add(1));
    }
}

impl ListenerHandle {
    /// A handle on a listener that never changes.
    pub fn fixed(listener: impl Into<Arc<Listener>>) -> Self {
        let listener = listener.into();
        let (name, namespace) = (listener.name.clone(), listener.namespace.clone());
        let (_, current) = watch::channel(Some(listener));
        let (_, refused) = watch::channel(0);
        let (_, freshness) = watch::channel(Freshness {
            loaded_at: Some(Instant::now()),
            generation: 1,
            ..Freshness::default()
        });
        Self {
            current,
            refused,
            freshness,
            name,
            namespace,
        }
    }

    /// A handle fed by the returned publisher, empty until the first
    /// [`ListenerPublisher::publish`].
    pub fn channel(
        name: impl Into<String>,
        namespace: impl Into<String>,
    ) -> (ListenerPublisher, Self) {
        let (current_tx, current) = watch::channel(None);
        let (refused_tx, refused) = watch::channel(0);
        let (freshness_tx, freshness) = watch::channel(Freshness {
            followed: true,
            ..Freshness::default()
        });
        let handle = Self {
            current,
            refused,
            freshness,
            name: name.into(),
            namespace: namespace.into(),
        };
        let publisher = ListenerPublisher {
            current: current_tx,
            refused: refused_tx,
            freshness: freshness_tx,
        };
        (publisher, handle)
    }

    /// A receiver of every listener put in service (for waiting on a change, bounded).
    pub fn watch(&self) -> watch::Receiver<Option<Arc<Listener>>> {
        self.current.clone()
    }

    /// The listener now, or `None` before the first configuration is loaded.
    pub fn current(&self) -> Option<Arc<Listener>> {
        self.current.borrow().clone()
    }

    /// The number of configurations refused so far (objects that did not decode, or a listener
    /// that did not compile), counted from 0 when the handle was made; each refusal adds 1 after
    /// it has been logged, with the last good listener still in service. Always 0 for a
    /// [`ListenerHandle::fixed`] handle. A receiver, so that a caller (a test, a diagnostic) can
    /// wait for the next refusal with `changed` or `wait_for`.
    pub fn refused(&self) -> watch::Receiver<u64> {
        self.refused.clone()
    }

    /// How current the listener in service is; a receiver, so that a caller can wait for a
    /// change (bounded).
    pub fn freshness(&self) -> watch::Receiver<Freshness> {
        self.freshness.clone()
    }

    /// A listener with no triggers and the configured name and namespace, for answers given
    /// before the first configuration is loaded.
    pub fn placeholder(&self) -> Listener {
        Listener {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            uid: String::new(),
            triggers: Vec::new(),
            cel_reads: Arc::default(),
            body_paths: Arc::default(),
            broken: Vec::new(),
            cloud_event_uri: None,
            trigger_groups: 0,
            payload_validation: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_configuration_is_counted_and_the_last_good_one_stays() {
        let (publish, handle) = ListenerHandle::channel("el", "ci");
        let refused = handle.refused();
        publish.publish(handle.placeholder());
        let good = handle.current().unwrap();
        publish.refuse();
        publish.refuse();
        assert_eq!(*refused.borrow(), 2);
        assert!(Arc::ptr_eq(&good, &handle.current().unwrap()));
        let fixed = ListenerHandle::fixed(handle.placeholder());
        assert_eq!(*fixed.refused().borrow(), 0);
    }

    #[test]
    fn freshness_follows_losses_and_recoveries_of_the_source() {
        let (publish, handle) = ListenerHandle::channel("el", "ci");
        let freshness = handle.freshness();
        assert!(freshness.borrow().loaded_at.is_none());
        publish.publish(handle.placeholder());
        let loaded = freshness.borrow().loaded_at.unwrap();
        let later = loaded + std::time::Duration::from_secs(42);
        assert_eq!(
            freshness.borrow().describe(later),
            "configuration loaded 42 s ago, in sync with the cluster"
        );
        publish.lost("connection refused".into());
        let (since, _) = freshness.borrow().stale_since.clone().unwrap();
        publish.lost("another error".into());
        let (again, error) = freshness.borrow().stale_since.clone().unwrap();
        assert_eq!((since, error.as_str()), (again, "connection refused"));
        let described = freshness
            .borrow()
            .describe(since + std::time::Duration::from_secs(31));
        assert!(
            described.contains("not in sync with the cluster for 31 s (connection refused)"),
            "{described}"
        );
        assert_eq!(
            freshness
                .borrow()
                .age(since + std::time::Duration::from_secs(31)),
            std::time::Duration::from_secs(31)
        );
        publish.recovered();
        assert!(freshness.borrow().stale_since.is_none());
        assert_eq!(freshness.borrow().age(later), std::time::Duration::ZERO);
        publish.publish(handle.placeholder());
        assert_eq!(freshness.borrow().generation, 2);
        let fixed = ListenerHandle::fixed(handle.placeholder()).freshness();
        let f = fixed.borrow().clone();
        assert_eq!(
            f.describe(f.loaded_at.unwrap()),
            "configuration loaded 0 s ago"
        );
    }
}

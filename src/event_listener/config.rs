//! The loaded configuration: [`Listener`], and the handle the server reads it through.

use std::sync::Arc;

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
    /// The parts of the body that its interceptors read as CEL data, all triggers merged:
    /// events convert only these (`SharedEvent::with_body_paths`).
    pub cel_body_paths: Arc<crate::cel::BodyPaths>,
    /// Cluster mode only: the problems of the triggers left out because their references are
    /// missing or invalid (the others serve). Always empty in file mode, which refuses a
    /// broken configuration at load instead.
    pub broken: Vec<ResolveError>,
}

/// The EventListener the server runs now, shared by every request. In file mode it never
/// changes; in cluster mode it is replaced whole when a new configuration compiles (the last good
/// one is kept otherwise), and it is absent until the first full sync.
#[derive(Debug, Clone)]
pub struct ListenerHandle {
    current: watch::Receiver<Option<Arc<Listener>>>,
    refused: watch::Receiver<u64>,
    name: String,
    namespace: String,
}

/// The sending side of [`ListenerHandle::channel`], given to [`follow_cluster`]: puts new
/// configurations in service and counts the ones it refuses.
#[derive(Debug)]
pub struct ListenerPublisher {
    current: watch::Sender<Option<Arc<Listener>>>,
    refused: watch::Sender<u64>,
}

impl ListenerPublisher {
    /// Replaces the listener in service with `listener`: events accepted from now on use it.
    pub fn publish(&self, listener: Listener) {
        self.current.send_replace(Some(Arc::new(listener)));
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
        Self {
            current,
            refused,
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
        let handle = Self {
            current,
            refused,
            name: name.into(),
            namespace: namespace.into(),
        };
        let publisher = ListenerPublisher {
            current: current_tx,
            refused: refused_tx,
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

    /// A listener with no triggers and the configured name and namespace, for answers given
    /// before the first configuration is loaded.
    pub fn placeholder(&self) -> Listener {
        Listener {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            uid: String::new(),
            triggers: Vec::new(),
            cel_body_paths: Arc::default(),
            broken: Vec::new(),
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
}

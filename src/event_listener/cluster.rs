//! Cluster mode: following the EventListener and what it references in the cluster.

use std::collections::HashSet;
use std::sync::Arc;

use super::{DEFAULT_NAMESPACE, Listener, ListenerPublisher, LoadOptions};
use crate::manifest;
use crate::manifest::cluster::Update;
use crate::secrets::SecretStore;
use crate::trigger::ResolveError;

/// Cluster mode: follows the EventListener `options.listener` in `options.namespace` and the
/// objects it references, compiling a new [`Listener`] on every change and publishing it on
/// `publish`. A trigger whose references are missing, invalid or do not decode is left out and
/// logged (naming the object and field); a configuration that does not compile at all (no such
/// EventListener) is logged, counted on `publish` ([`ListenerHandle::refused`]) and the last good
/// one stays in service.
/// Watches that fail are reported on `publish` ([`ListenerHandle::freshness`]) until they have
/// listed again. Runs until the task is dropped.
pub async fn follow_cluster(
    client: kube::Client,
    options: LoadOptions,
    secrets: Arc<dyn SecretStore>,
    publish: ListenerPublisher,
) {
    let namespace = options
        .namespace
        .clone()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    let Some(name) = options.listener.clone() else {
        tracing::error!("cluster mode needs the EventListener's name (--listener)");
        publish.refuse();
        return;
    };
    // Foreign triggers already warned about: once per trigger for the life of the process.
    let mut warned: HashSet<(String, String)> = HashSet::new();
    manifest::cluster::follow(client, namespace, name, move |update| {
        let catalog = match update {
            Update::Snapshot(catalog) => catalog,
            Update::Lost { kind, error } => {
                tracing::warn!(
                    kind,
                    %error,
                    "lost the cluster: the last configuration serves until the watches list again"
                );
                publish.lost(format!("{kind} watch: {error}"));
                return;
            }
            Update::Recovered => {
                tracing::info!("back in sync with the cluster");
                publish.recovered();
                return;
            }
        };
        for u in &catalog.undecodable {
            tracing::error!(
                kind = %u.kind,
                namespace = %u.namespace,
                name = %u.name,
                error = %u.error,
                "object in the cluster does not decode; what references it is left out"
            );
        }
        match Listener::from_catalog_with_secrets(&catalog, &options, Arc::clone(&secrets)) {
            Ok(mut listener) => {
                trust_foreign_triggers(&mut listener, options.require_trigger_service_account, &mut warned);
                for problem in &listener.broken {
                    tracing::error!(
                        trigger = %problem.trigger,
                        error = %problem,
                        "trigger left out: its references are missing or invalid; the other triggers serve"
                    );
                }
                tracing::info!(
                    event_listener = %listener.name,
                    namespace = %listener.namespace,
                    triggers = listener.triggers.len(),
                    broken = listener.broken.len(),
                    "configuration loaded from the cluster"
                );
                publish.publish(listener);
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "configuration from the cluster rejected; the last good one stays in service"
                );
                publish.refuse();
            }
        }
    })
    .await;
}

/// Triggers selected from another namespace than the EventListener's, without a
/// `serviceAccountName`, would create their objects with the listener's own rights: their
/// authors gain what the listener may do. With `require` they are moved to `listener.broken`
/// (`--require-trigger-service-account`); without it each is served and warned about once
/// (`warned` remembers which).
fn trust_foreign_triggers(
    listener: &mut Listener,
    require: bool,
    warned: &mut HashSet<(String, String)>,
) {
    let foreign = |t: &crate::trigger::ResolvedTrigger| {
        t.namespace != listener.namespace && t.service_account.is_none()
    };
    if require {
        let (kept, left_out): (Vec<_>, Vec<_>) =
            listener.triggers.drain(..).partition(|t| !foreign(t));
        listener.triggers = kept;
        listener
            .broken
            .extend(left_out.into_iter().map(|t| ResolveError {
                trigger: t.name.clone(),
                field: "serviceAccountName".into(),
                message: format!(
                    "selected from namespace {}: --require-trigger-service-account asks for a \
                     serviceAccountName of that namespace, whose rights create its objects",
                    t.namespace
                ),
            }));
        return;
    }
    for t in listener.triggers.iter().filter(|t| foreign(t)) {
        if warned.insert((t.namespace.clone(), t.name.clone())) {
            tracing::warn!(
                trigger = %t.name,
                trigger_namespace = %t.namespace,
                "a Trigger selected from another namespace has no serviceAccountName: it creates \
                 with the listener's rights (--require-trigger-service-account leaves such triggers out)"
            );
        }
    }
}

//! The EventListener the server runs: chosen among the manifests, with every trigger resolved
//! and compiled. Built once at start-up; the event path only reads it (shared as
//! `Arc<Listener>`).

use std::path::PathBuf;
use std::sync::Arc;

use crate::manifest::{self, Catalog, namespace_of};
use crate::secrets::{ManifestSecrets, SecretStore};
use crate::trigger::{ResolveError, ResolvedTrigger, resolve};

/// Namespace used when neither `--namespace` nor the EventListener names one.
pub const DEFAULT_NAMESPACE: &str = "default";

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
}

/// What to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Files and directories (`-f`).
    pub paths: Vec<PathBuf>,
    /// EventListener name (`--listener`); needed when the manifests hold several.
    pub listener: Option<String>,
    /// Namespace (`--namespace`) for objects that name none; default: the EventListener's, else
    /// `default`.
    pub namespace: Option<String>,
}

/// Start-up failures; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A manifest could not be read.
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
    /// No EventListener in the manifests.
    #[error("no EventListener found in the manifests")]
    NoListener,
    /// Several EventListeners and no `--listener`.
    #[error("several EventListeners found ({}); choose one with --listener", .0.join(", "))]
    Ambiguous(Vec<String>),
    /// `--listener` names none of them.
    #[error("EventListener {name:?} not found; found: {}", candidates.join(", "))]
    NotFound {
        /// The name asked for.
        name: String,
        /// Names found.
        candidates: Vec<String>,
    },
    /// `--namespace` disagrees with the EventListener's own namespace.
    #[error("EventListener {name} is in namespace {manifest} but --namespace is {flag}")]
    NamespaceConflict {
        /// EventListener name.
        name: String,
        /// Namespace in the manifest.
        manifest: String,
        /// `--namespace`.
        flag: String,
    },
    /// A Secret manifest is unusable.
    #[error("{origin}: {source}")]
    Secret {
        /// Where.
        origin: manifest::Origin,
        /// Why.
        source: crate::secrets::Error,
    },
    /// Triggers that do not resolve; every problem is listed.
    #[error("EventListener {listener}: {} problem(s):\n  {}", errors.len(),
        errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Triggers {
        /// EventListener name.
        listener: String,
        /// Every problem.
        errors: Vec<ResolveError>,
    },
}

impl Listener {
    /// Reads the manifests and builds the listener.
    ///
    /// # Errors
    /// [`LoadError`].
    pub fn load(options: &LoadOptions) -> Result<Self, LoadError> {
        let catalog = manifest::load(&options.paths)?;
        Self::from_catalog(&catalog, options)
    }

    /// Builds the listener from already read manifests.
    ///
    /// # Errors
    /// [`LoadError`] except `Manifest`.
    pub fn from_catalog(catalog: &Catalog, options: &LoadOptions) -> Result<Self, LoadError> {
        let names: Vec<String> = catalog
            .event_listeners
            .iter()
            .map(|l| l.object.metadata.name.clone())
            .collect();
        let chosen = match &options.listener {
            Some(name) => catalog
                .event_listeners
                .iter()
                .find(|l| l.object.metadata.name == *name)
                .ok_or_else(|| LoadError::NotFound {
                    name: name.clone(),
                    candidates: names.clone(),
                })?,
            None => match catalog.event_listeners.as_slice() {
                [] => return Err(LoadError::NoListener),
                [one] => one,
                _ => return Err(LoadError::Ambiguous(names)),
            },
        };
        let el = &chosen.object;
        let namespace = match (&options.namespace, el.metadata.namespace.as_deref()) {
            (Some(flag), Some(own)) if !own.is_empty() && own != flag => {
                return Err(LoadError::NamespaceConflict {
                    name: el.metadata.name.clone(),
                    manifest: own.to_owned(),
                    flag: flag.clone(),
                });
            }
            (Some(flag), _) => flag.clone(),
            (None, Some(own)) if !own.is_empty() => own.to_owned(),
            _ => DEFAULT_NAMESPACE.to_owned(),
        };

        let mut secrets = ManifestSecrets::new();
        for s in &catalog.secrets {
            secrets
                .insert(namespace_of(&s.object.metadata, &namespace), &s.object)
                .map_err(|source| LoadError::Secret {
                    origin: s.origin.clone(),
                    source,
                })?;
        }
        let secrets: Arc<dyn SecretStore> = Arc::new(secrets);
        let triggers =
            resolve(el, &namespace, catalog, &secrets).map_err(|errors| LoadError::Triggers {
                listener: el.metadata.name.clone(),
                errors,
            })?;
        Ok(Self {
            name: el.metadata.name.clone(),
            namespace,
            uid: el.metadata.uid.clone().unwrap_or_default(),
            triggers: triggers.into_iter().map(Arc::new).collect(),
        })
    }
}

//! Where API objects come from: manifest files given with `-f`, read like `kubectl apply -f`
//! (a file of one or more YAML documents or JSON, or a directory scanned recursively for
//! `*.yaml`, `*.yml`, `*.json`), collected into a [`Catalog`] that `trigger::resolve` looks
//! references up in.
//!
//! Mirrors the lookups of reference §1.1: Triggers, TriggerBindings and TriggerTemplates by
//! namespace and name, ClusterTriggerBindings and ClusterInterceptors by name, Interceptors by
//! namespace and name. Objects without `metadata.namespace` are
//! placed in the catalog's default namespace, as `kubectl apply -n NS` does.

pub mod cluster;
mod files;
pub mod positions;
pub mod schema;

use std::path::{Path, PathBuf};

use crate::api::{EventListener, Interceptor, Secret, Trigger, TriggerBinding, TriggerTemplate};

pub use files::{load, load_all};

/// Where an object was read: file and 1-based document index within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// 1-based index of the document in the file (empty documents are not counted); 0 for an
    /// object read from the cluster.
    pub document: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.document == 0 {
            // Not from a file: read from the cluster (see `cluster::cluster_origin`).
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{} (document {})", self.file.display(), self.document)
        }
    }
}

/// One object and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// Where it was read.
    pub origin: Origin,
    /// The object.
    pub object: T,
}

/// Errors reading manifests. Each names the file, and where it applies the document and field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not valid YAML or JSON.
    #[error("{}: not valid {format}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// `YAML` or `JSON`.
        format: &'static str,
        /// The parser's message, with line and column.
        message: String,
        /// Where the parser stopped, when it says.
        position: Option<positions::Position>,
    },
    /// A document is not an object with `apiVersion` and `kind`.
    #[error("{origin}: {message}")]
    Document {
        /// Where.
        origin: Origin,
        /// What is wrong.
        message: String,
    },
    /// A field of a known kind has the wrong shape.
    #[error("{origin}: {kind} {name:?}: field {field}: {message}")]
    Field {
        /// Where.
        origin: Origin,
        /// The object's kind.
        kind: String,
        /// The object's `metadata.name`, if readable.
        name: String,
        /// Path of the field, e.g. `spec.triggers[0].bindings[1].ref`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A key that the kind does not have (files only: serde would ignore it, so a misspelled
    /// field would silently mean "not set").
    #[error("{origin}: {kind} {name:?}: unknown field `{}` at {}{}{}", unknown.key, unknown.path,
        position.map(|p| format!(" (line {}, column {})", p.line, p.column)).unwrap_or_default(),
        unknown.suggestion.map(|s| format!(", did you mean `{s}`?")).unwrap_or_default())]
    UnknownField {
        /// Where.
        origin: Origin,
        /// The object's kind.
        kind: String,
        /// The object's `metadata.name`.
        name: String,
        /// The key, its path and the closest known name.
        unknown: schema::UnknownField,
        /// Where the key is in the file.
        position: Option<positions::Position>,
    },
    /// A path given with `-f` holds no manifest file.
    #[error("{}: no *.yaml, *.yml or *.json files found", path.display())]
    Empty {
        /// The path.
        path: PathBuf,
    },
}

/// Every object read from the manifests, by kind.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// EventListeners.
    pub event_listeners: Vec<Loaded<EventListener>>,
    /// Triggers.
    pub triggers: Vec<Loaded<Trigger>>,
    /// TriggerBindings.
    pub trigger_bindings: Vec<Loaded<TriggerBinding>>,
    /// ClusterTriggerBindings.
    pub cluster_trigger_bindings: Vec<Loaded<TriggerBinding>>,
    /// TriggerTemplates.
    pub trigger_templates: Vec<Loaded<TriggerTemplate>>,
    /// Secrets.
    pub secrets: Vec<Loaded<Secret>>,
    /// ClusterInterceptors (cluster-scoped).
    pub cluster_interceptors: Vec<Loaded<Interceptor>>,
    /// Interceptors (namespaced).
    pub interceptors: Vec<Loaded<Interceptor>>,
    /// Cluster mode: objects of these kinds that exist but do not decode. They are left out, and
    /// a trigger that references one is reported with the reason ([`Catalog::missing`]). Always
    /// empty from files, which refuse such a document at load.
    pub undecodable: Vec<Undecodable>,
    /// Files found in a directory that hold no Kubernetes object (no document has `apiVersion`
    /// or `kind`), such as example payloads kept next to the manifests: left out, and reported
    /// as warnings. A file named on its own is never skipped.
    pub skipped: Vec<PathBuf>,
}

/// An object in the cluster that does not decode as its kind.
#[derive(Debug, Clone)]
pub struct Undecodable {
    /// Its kind, e.g. `TriggerBinding`.
    pub kind: String,
    /// Its namespace; empty for cluster-scoped kinds.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Why it does not decode (the field and the problem).
    pub error: String,
}

impl Catalog {
    /// The Trigger `name` in `namespace`; objects without a namespace count as in `default_ns`.
    pub fn trigger(
        &self,
        default_ns: &str,
        namespace: &str,
        name: &str,
    ) -> Option<&Loaded<Trigger>> {
        find(&self.triggers, default_ns, namespace, name, |t| &t.metadata)
    }

    /// The TriggerBinding `name` in `namespace`.
    pub fn trigger_binding(
        &self,
        default_ns: &str,
        namespace: &str,
        name: &str,
    ) -> Option<&Loaded<TriggerBinding>> {
        find(&self.trigger_bindings, default_ns, namespace, name, |t| {
            &t.metadata
        })
    }

    /// The ClusterTriggerBinding `name` (cluster-scoped: namespace ignored).
    pub fn cluster_trigger_binding(&self, name: &str) -> Option<&Loaded<TriggerBinding>> {
        self.cluster_trigger_bindings
            .iter()
            .find(|b| b.object.metadata.name == name)
    }

    /// The ClusterInterceptor `name` (cluster-scoped: namespace ignored).
    pub fn cluster_interceptor(&self, name: &str) -> Option<&Loaded<Interceptor>> {
        self.cluster_interceptors
            .iter()
            .find(|i| i.object.metadata.name == name)
    }

    /// The Interceptor `name` in `namespace`.
    pub fn interceptor(
        &self,
        default_ns: &str,
        namespace: &str,
        name: &str,
    ) -> Option<&Loaded<Interceptor>> {
        find(&self.interceptors, default_ns, namespace, name, |i| {
            &i.metadata
        })
    }

    /// The TriggerTemplate `name` in `namespace`.
    pub fn trigger_template(
        &self,
        default_ns: &str,
        namespace: &str,
        name: &str,
    ) -> Option<&Loaded<TriggerTemplate>> {
        find(&self.trigger_templates, default_ns, namespace, name, |t| {
            &t.metadata
        })
    }

    /// Why the `kind` object `name` of `namespace` (empty for cluster-scoped kinds) cannot be
    /// used: `TriggerBinding ci/name not found`, or, when it exists but does not decode,
    /// `TriggerBinding ci/name does not decode: ERROR`.
    pub fn missing(&self, kind: &str, namespace: &str, name: &str) -> String {
        let place = if namespace.is_empty() {
            name.to_owned()
        } else {
            format!("{namespace}/{name}")
        };
        match self
            .undecodable
            .iter()
            .find(|u| u.kind == kind && u.namespace == namespace && u.name == name)
        {
            Some(u) => format!("{kind} {place} does not decode: {}", u.error),
            None => format!("{kind} {place} not found"),
        }
    }

    /// Adds everything from `other`.
    pub fn extend(&mut self, other: Catalog) {
        self.event_listeners.extend(other.event_listeners);
        self.triggers.extend(other.triggers);
        self.trigger_bindings.extend(other.trigger_bindings);
        self.cluster_trigger_bindings
            .extend(other.cluster_trigger_bindings);
        self.trigger_templates.extend(other.trigger_templates);
        self.secrets.extend(other.secrets);
        self.cluster_interceptors.extend(other.cluster_interceptors);
        self.interceptors.extend(other.interceptors);
        self.undecodable.extend(other.undecodable);
    }
}

/// The namespace of an object: its own, else `default_ns`.
pub fn namespace_of<'a>(meta: &'a crate::api::ObjectMeta, default_ns: &'a str) -> &'a str {
    meta.namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(default_ns)
}

fn find<'a, T>(
    items: &'a [Loaded<T>],
    default_ns: &str,
    namespace: &str,
    name: &str,
    meta: impl Fn(&T) -> &crate::api::ObjectMeta,
) -> Option<&'a Loaded<T>> {
    items.iter().find(|item| {
        let m = meta(&item.object);
        m.name == name && namespace_of(m, default_ns) == namespace
    })
}

/// True when `path` names a file `-f` reads inside a directory.
pub(crate) fn is_manifest_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

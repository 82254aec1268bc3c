//! The EventListener the server runs (upstream's EventListener, reference §1–§2): chosen among
//! the manifests, with every trigger resolved and compiled, then only read by the event path
//! (shared as `Arc<Listener>`). One file per concern:
//!
//! - [`config`]: the loaded configuration ([`Listener`]) and the handle the server reads it
//!   through ([`ListenerHandle`], [`ListenerPublisher`]);
//! - [`files`]: loading from manifests (`-f`, `validate`, `triggerrun`): strict, a broken file
//!   set is refused;
//! - [`cluster`]: following the cluster (no `-f`): per trigger, a broken trigger is left out;
//! - [`status`]: cluster mode's status, Lease and Kubernetes Events written back.

mod cluster;
mod config;
mod files;
pub mod status;

pub use cluster::follow_cluster;
pub use config::{Freshness, Listener, ListenerHandle, ListenerPublisher};
pub use files::{LoadError, LoadOptions};

/// The EventListener annotation that turns payload validation off with the value `"false"`
/// (reference §1.2, upstream `triggers.PayloadValidationAnnotation`).
pub const PAYLOAD_VALIDATION_ANNOTATION: &str = "tekton.dev/payload-validation";

/// Namespace used when neither `--namespace` nor the EventListener names one.
pub const DEFAULT_NAMESPACE: &str = "default";

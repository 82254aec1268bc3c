//! Triggers as they run: [`ResolvedTrigger`] (built once at config load by [`resolve`]) and
//! [`process`], which takes one event through one trigger: interceptors → bindings → template →
//! creator (reference §2.7, upstream `pkg/sink/sink.go` processTrigger); and [`run_event`], one
//! event through every trigger of an EventListener, the one per-event path every caller uses.

mod cancel;
mod process;
mod resolve;
mod run;

use std::sync::Arc;

use crate::binding::ParamTemplate;
use crate::interceptors::{Interceptor, StopReason};
use crate::resources::Created;
use crate::template::CompiledTemplate;

pub use cancel::{
    ANNOTATION_CANCEL_ORDER, ANNOTATION_CANCEL_STATUS, ANNOTATION_CANCEL_SUPERSEDED,
    CancelSuperseded,
};
pub use process::{Explanation, ParamSource, ProcessContext, process, process_explained};
pub use resolve::{ResolveError, ResolveOptions, resolve, resolve_each};
pub use run::{EventOutcome, RunOptions, TriggerReport, run_event};

/// A trigger ready to run: every reference resolved, every expression and template compiled.
#[derive(Debug)]
pub struct ResolvedTrigger {
    /// Trigger name (`triggers.tekton.dev/trigger` label; inline triggers: their `name`).
    pub name: String,
    /// The Trigger's namespace: secrets are read and objects created there by default.
    pub namespace: String,
    /// Interceptor chain, in order.
    pub interceptors: Vec<Arc<dyn Interceptor>>,
    /// Binding params in order: `(name, compiled value)`; names are unique (checked at load).
    pub params: Vec<(String, ParamTemplate)>,
    /// The TriggerTemplate.
    pub template: CompiledTemplate,
    /// `serviceAccountName`, kept for the Kubernetes creator.
    pub service_account: Option<String>,
    /// Cancelling superseded runs, when the Trigger opts in with its annotations.
    pub cancel: Option<CancelSuperseded>,
    /// The trigger group that selected it, whose chain runs first (once per event, for all its
    /// Triggers); `None` for the EventListener's own triggers.
    pub group: Option<Arc<TriggerGroup>>,
}

/// One `triggerGroups` entry, built (reference §2.6, upstream `pkg/sink/sink.go`
/// processTriggerGroups): its interceptor chain runs once per event; when it continues, each of
/// its Triggers runs with the chain's extensions as its starting extensions (and the original
/// body); when it stops or fails, none of them runs.
#[derive(Debug)]
pub struct TriggerGroup {
    /// The group's name (`triggerGroups[N]` when it has none).
    pub name: String,
    /// Its interceptor chain, in order.
    pub interceptors: Vec<Arc<dyn Interceptor>>,
    /// Its index in `spec.triggerGroups`: one per-event result per index.
    pub index: usize,
}

/// How one trigger ended for one event: exactly one of these per trigger.
#[derive(Debug)]
pub enum TriggerOutcome {
    /// Everything was created.
    Created(Vec<Created>),
    /// An interceptor stopped the trigger.
    Stopped {
        /// Interceptor name.
        interceptor: String,
        /// Why.
        reason: StopReason,
        /// The interceptor's message.
        message: String,
    },
    /// Something failed; what was created before the failure is listed.
    Failed {
        /// Objects created before the failure (upstream does not roll back either).
        created: Vec<Created>,
        /// The failure.
        error: Error,
    },
}

/// Event-time failures of one trigger.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An interceptor could not decide.
    #[error("interceptor {interceptor} failed: {source}")]
    Interceptor {
        /// Interceptor name.
        interceptor: String,
        /// Cause.
        source: crate::interceptors::Error,
    },
    /// A binding param could not be resolved (upstream's text).
    #[error("failed to replace JSONPath value for param {param}: {value}: {source}")]
    Binding {
        /// Param name.
        param: String,
        /// The param value as written.
        value: String,
        /// Cause.
        source: crate::binding::EvalError,
    },
    /// The body the bindings read is not JSON (only when received without payload validation;
    /// upstream's text).
    #[error("failed to unmarshal request body: {0}")]
    Body(crate::event::InvalidBody),
    /// The template could not be rendered.
    #[error("template: {0}")]
    Template(#[from] crate::template::Error),
    /// The listener itself failed (a trigger task panicked): a bug, not the event's fault.
    #[error("internal error: {0}")]
    Internal(String),
    /// A rendered object could not be created.
    #[error("creating {kind}: {source}")]
    Create {
        /// Kind of the object.
        kind: String,
        /// Cause.
        source: crate::resources::Error,
    },
}

impl Error {
    /// True when the same event sent again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Create { source, .. } => source.is_retryable(),
            Error::Interceptor { .. } => true,
            Error::Binding { .. } | Error::Body(_) | Error::Template(_) | Error::Internal(_) => {
                false
            }
        }
    }

    /// A stable lower-case word for logs.
    pub fn stage(&self) -> &'static str {
        match self {
            Error::Interceptor { .. } => "interceptor",
            Error::Binding { .. } | Error::Body(_) => "binding",
            Error::Template(_) => "template",
            Error::Create { .. } => "create",
            Error::Internal(_) => "internal",
        }
    }
}

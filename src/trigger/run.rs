//! One event through every trigger of an EventListener: the one per-event path that the HTTP
//! sink, `triggerrun` and the benchmarks all call (reference §2.2 step 3, upstream
//! `pkg/sink/sink.go` HandleEvent, which spawns one goroutine per trigger).

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument as _;

use super::{Explanation, ProcessContext, ResolvedTrigger, TriggerGroup, TriggerOutcome};
use crate::event::Extensions;
use crate::event_listener::Listener;
use crate::interceptors::{ChainOutcome, SharedEvent, StopReason, run_chain};
use crate::resources::Creator;

/// How [`run_event`] runs the triggers.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Every trigger at once, polled together on the calling task (the server, which runs each
    /// event in a task of its own so that a trigger keeps running if the sender hangs up).
    /// `false`: one after the other, in order (the local tools, whose output order must be
    /// stable, and the single-core benchmarks).
    pub concurrent: bool,
    /// Deadline for all triggers together; when it passes, the triggers still running are
    /// cancelled and [`EventOutcome::TimedOut`] is returned. `None`: no deadline.
    pub deadline: Option<Duration>,
    /// Record each trigger's [`Explanation`] (`triggerrun --explain`).
    pub explain: bool,
    /// Where to record how long each interceptor and each create took; `None`: nowhere.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Default for RunOptions {
    /// Concurrent, no deadline, no explanations.
    fn default() -> Self {
        Self {
            concurrent: true,
            deadline: None,
            explain: false,
            metrics: None,
        }
    }
}

/// One trigger's result for one event.
#[derive(Debug)]
pub struct TriggerReport {
    /// The trigger (its name is `trigger.name`).
    pub trigger: Arc<ResolvedTrigger>,
    /// How it ended.
    pub outcome: TriggerOutcome,
    /// Its steps, when [`RunOptions::explain`] was set; else empty.
    pub explanation: Explanation,
}

/// How one event ended.
#[derive(Debug)]
pub enum EventOutcome {
    /// Every trigger finished; one report per trigger, in `spec.triggers` order.
    Finished(Vec<TriggerReport>),
    /// The deadline passed first; the reports of the triggers that had finished, in order.
    TimedOut(Vec<TriggerReport>),
}

/// Runs `event` through every trigger of `listener`, creating with `creator`, and returns every
/// trigger's outcome. Each trigger's outcome is logged (one line, with the trigger name and
/// outcome) in the caller's span. A trigger that panics is logged and reported as
/// [`TriggerOutcome::Failed`] with [`super::Error::Internal`].
pub async fn run_event(
    listener: Arc<Listener>,
    event: Arc<SharedEvent>,
    creator: Arc<dyn Creator>,
    options: RunOptions,
) -> EventOutcome {
    let mut reports: Vec<(usize, TriggerReport)> = Vec::with_capacity(listener.triggers.len());
    let groups = GroupRuns::for_listener(&listener);
    let work = async {
        if options.concurrent {
            run_concurrently(&listener, &event, &creator, &options, &groups, &mut reports).await;
        } else {
            for (index, trigger) in listener.triggers.iter().enumerate() {
                let span = tracing::info_span!("trigger", trigger = %trigger.name);
                let report = run_one(
                    &listener,
                    Arc::clone(trigger),
                    &event,
                    creator.as_ref(),
                    &options,
                    &groups,
                )
                .instrument(span)
                .await;
                reports.push((index, report));
            }
        }
    };
    let deadline = options.deadline;
    let finished = match deadline {
        Some(deadline) => tokio::time::timeout(deadline, work).await.is_ok(),
        None => {
            work.await;
            true
        }
    };
    reports.sort_by_key(|(i, _)| *i);
    let reports: Vec<TriggerReport> = reports.into_iter().map(|(_, r)| r).collect();
    if finished {
        EventOutcome::Finished(reports)
    } else {
        tracing::warn!(
            finished = reports.len(),
            timeout_secs = options.deadline.map_or(0, |d| d.as_secs()),
            "event timed out"
        );
        EventOutcome::TimedOut(reports)
    }
}

async fn run_concurrently(
    listener: &Arc<Listener>,
    event: &Arc<SharedEvent>,
    creator: &Arc<dyn Creator>,
    options: &RunOptions,
    groups: &GroupRuns,
    reports: &mut Vec<(usize, TriggerReport)>,
) {
    use futures::FutureExt as _;
    use futures::StreamExt as _;
    // Polled together on the event's own task (`sink::in_flight` gives each event one): a
    // trigger waiting on the API server does not hold the others, and nothing is spawned per
    // trigger (a task per trigger cost ~5 µs each, 5 ms per event at 1,000 triggers; measured,
    // BENCHMARKS.md). Dropping the set (on the deadline) cancels the triggers still running.
    let mut running: futures::stream::FuturesUnordered<_> = listener
        .triggers
        .iter()
        .enumerate()
        .map(|(index, trigger)| {
            let span = tracing::info_span!("trigger", trigger = %trigger.name);
            // Boxed where it is made: the future is ~1.9 KB, and each adapter below, then the
            // set, would otherwise move it whole (~20 KB of copying per event for `config/`).
            let run = Box::pin(run_one(
                listener,
                Arc::clone(trigger),
                event,
                creator.as_ref(),
                options,
                groups,
            ));
            std::panic::AssertUnwindSafe(run)
                .catch_unwind()
                .map(move |result| (index, result))
                .instrument(span)
        })
        .collect();
    while let Some((index, result)) = running.next().await {
        match result {
            Ok(report) => reports.push((index, report)),
            Err(panic) => {
                // A bug in this listener, not in the event: reported as an internal failure of
                // that trigger so the sender is told (500), never silently dropped.
                let Some(trigger) = listener.triggers.get(index) else {
                    continue;
                };
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                tracing::error!(trigger = %trigger.name, error = %message, "trigger panicked");
                reports.push((
                    index,
                    TriggerReport {
                        trigger: Arc::clone(trigger),
                        outcome: TriggerOutcome::Failed {
                            created: Vec::new(),
                            error: super::Error::Internal(format!("trigger panicked: {message}")),
                        },
                        explanation: Explanation::default(),
                    },
                ));
            }
        }
    }
}

async fn run_one(
    listener: &Listener,
    trigger: Arc<ResolvedTrigger>,
    event: &SharedEvent,
    creator: &dyn Creator,
    options: &RunOptions,
    groups: &GroupRuns,
) -> TriggerReport {
    let ctx = ProcessContext {
        event_listener: &listener.name,
        event_listener_namespace: &listener.namespace,
        creator,
        metrics: options.metrics.as_deref(),
    };
    let mut explanation = Explanation::default();
    let start = match &trigger.group {
        None => Ok(Extensions::new()),
        Some(group) => groups.outcome(group, event).await.start(group),
    };
    let outcome = match start {
        Ok(extensions) => {
            let explanation = options.explain.then_some(&mut explanation);
            super::process::run(&trigger, event, ctx, extensions, explanation).await
        }
        Err(outcome) => outcome,
    };
    log_outcome(&outcome);
    TriggerReport {
        trigger,
        outcome,
        explanation,
    }
}

/// One event's trigger groups (§2.6): each group's chain runs once, when the first of its
/// Triggers needs it, and every Trigger of the group shares the result.
struct GroupRuns(Vec<tokio::sync::OnceCell<GroupOutcome>>);

/// How a trigger group's chain ended for one event.
#[derive(Debug, Clone)]
enum GroupOutcome {
    /// Its Triggers run, starting from these extensions.
    Continue(Extensions),
    /// An interceptor of the group stopped it: none of its Triggers runs.
    Stopped {
        interceptor: String,
        reason: StopReason,
        message: String,
    },
    /// An interceptor of the group could not decide: none of its Triggers runs.
    Failed {
        interceptor: String,
        error: crate::interceptors::Error,
    },
}

impl GroupRuns {
    fn for_listener(listener: &Listener) -> Self {
        Self(
            (0..listener.trigger_groups)
                .map(|_| tokio::sync::OnceCell::new())
                .collect(),
        )
    }

    async fn outcome(&self, group: &TriggerGroup, event: &SharedEvent) -> GroupOutcome {
        match self.0.get(group.index) {
            Some(cell) => cell.get_or_init(|| run_group(group, event)).await.clone(),
            None => run_group(group, event).await,
        }
    }
}

impl GroupOutcome {
    /// The extensions a Trigger of `group` starts from, or its outcome when the group stopped.
    /// The interceptor is named `<group>/<interceptor>` in the Trigger's outcome.
    fn start(self, group: &TriggerGroup) -> Result<Extensions, TriggerOutcome> {
        match self {
            GroupOutcome::Continue(extensions) => Ok(extensions),
            GroupOutcome::Stopped {
                interceptor,
                reason,
                message,
            } => Err(TriggerOutcome::Stopped {
                interceptor: format!("{}/{interceptor}", group.name),
                reason,
                message,
            }),
            GroupOutcome::Failed { interceptor, error } => Err(TriggerOutcome::Failed {
                created: Vec::new(),
                error: super::Error::Interceptor {
                    interceptor: format!("{}/{interceptor}", group.name),
                    source: error,
                },
            }),
        }
    }
}

/// Runs a group's chain once, logging how it ended (upstream logs a group's stop and errors).
async fn run_group(group: &TriggerGroup, event: &SharedEvent) -> GroupOutcome {
    match run_chain(&group.interceptors, event, Extensions::new()).await {
        // A group's Triggers read the original body and headers (reference §2.6).
        Ok(ChainOutcome::Continue { extensions, .. }) => GroupOutcome::Continue(extensions),
        Ok(ChainOutcome::Stopped {
            interceptor,
            reason,
            message,
            ..
        }) => {
            tracing::debug!(group = %group.name, interceptor = %interceptor, reason = reason.as_str(), message = %message, "interceptor stopped the trigger group");
            GroupOutcome::Stopped {
                interceptor,
                reason,
                message,
            }
        }
        Err((_, interceptor, error)) => {
            tracing::error!(group = %group.name, interceptor = %interceptor, error = %error, "trigger group failed");
            GroupOutcome::Failed { interceptor, error }
        }
    }
}

/// Created objects as `KIND/NAMESPACE/NAME,…`, written only when a line that shows them is
/// (at `warn` nothing is formatted).
struct Names<'a>(&'a [crate::resources::Created]);

impl std::fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}/{}/{}", c.kind, c.namespace, c.name)?;
        }
        Ok(())
    }
}

/// One structured line per trigger: what it created, or what stopped it and why, or what failed.
fn log_outcome(outcome: &TriggerOutcome) {
    match outcome {
        TriggerOutcome::Created(created) => {
            let names = Names(created);
            if crate::resources::only_duplicates(created) {
                tracing::info!(outcome = "duplicate", found = %names, "trigger's resources already existed for this delivery ID");
            } else {
                tracing::info!(outcome = "created", created = %names, "trigger created resources");
            }
        }
        // A filtered trigger is the usual case, not news: at debug, or a listener of 1,000
        // triggers writes 1,000 lines per event (1 GB in 5 s under load, BENCHMARKS.md).
        TriggerOutcome::Stopped {
            interceptor,
            reason: StopReason::Filtered,
            message,
        } => tracing::debug!(
            outcome = "stopped",
            interceptor = %interceptor,
            reason = StopReason::Filtered.as_str(),
            message = %message,
            "interceptor stopped trigger processing"
        ),
        TriggerOutcome::Stopped {
            interceptor,
            reason,
            message,
        } => tracing::info!(
            outcome = "stopped",
            interceptor = %interceptor,
            reason = reason.as_str(),
            message = %message,
            "interceptor stopped trigger processing"
        ),
        TriggerOutcome::Failed { created, error } => tracing::error!(
            outcome = "failed",
            stage = error.stage(),
            error = %error,
            created_before_failure = created.len(),
            "trigger failed"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::Names;
    use crate::resources::Created;

    fn created(kind: &str, name: &str) -> Created {
        Created {
            api_version: "tekton.dev/v1".into(),
            kind: kind.into(),
            namespace: "ci".into(),
            name: name.into(),
            duplicate: false,
        }
    }

    #[test]
    fn created_objects_are_named_kind_namespace_name_joined_by_commas() {
        assert_eq!(Names(&[]).to_string(), "");
        assert_eq!(
            Names(&[created("PipelineRun", "a"), created("TaskRun", "b")]).to_string(),
            "PipelineRun/ci/a,TaskRun/ci/b"
        );
    }
}

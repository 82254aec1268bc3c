//! One event through every trigger of an EventListener: the one per-event path that the HTTP
//! sink, `triggerrun` and the benchmarks all call (reference §2.2 step 3, upstream
//! `pkg/sink/sink.go` HandleEvent, which spawns one goroutine per trigger).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tracing::Instrument as _;

use super::{Explanation, ProcessContext, ResolvedTrigger, TriggerOutcome, process_explained};
use crate::event_listener::Listener;
use crate::interceptors::SharedEvent;
use crate::resources::Creator;

/// How [`run_event`] runs the triggers.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Every trigger in its own task, all at once (the server: a trigger keeps running if the
    /// sender hangs up). `false`: one after the other on the calling task, in order (the local
    /// tools, whose output order must be stable, and the single-core benchmarks).
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
/// outcome) in the caller's span. A trigger task that panics is logged and reported as
/// [`TriggerOutcome::Failed`] with [`super::Error::Internal`].
pub async fn run_event(
    listener: Arc<Listener>,
    event: Arc<SharedEvent>,
    creator: Arc<dyn Creator>,
    options: RunOptions,
) -> EventOutcome {
    let mut reports: Vec<(usize, TriggerReport)> = Vec::with_capacity(listener.triggers.len());
    let work = async {
        if options.concurrent {
            run_concurrently(&listener, &event, &creator, &options, &mut reports).await;
        } else {
            for (index, trigger) in listener.triggers.iter().enumerate() {
                let span = tracing::info_span!("trigger", trigger = %trigger.name);
                let report = run_one(
                    &listener,
                    Arc::clone(trigger),
                    &event,
                    creator.as_ref(),
                    &options,
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
    reports: &mut Vec<(usize, TriggerReport)>,
) {
    // Dropping the JoinSet (on the deadline) cancels the triggers still running.
    let mut tasks = JoinSet::new();
    let mut indexes = std::collections::HashMap::with_capacity(listener.triggers.len());
    for (index, trigger) in listener.triggers.iter().enumerate() {
        let (listener, trigger, event, creator, options) = (
            Arc::clone(listener),
            Arc::clone(trigger),
            Arc::clone(event),
            Arc::clone(creator),
            options.clone(),
        );
        let span = tracing::info_span!("trigger", trigger = %trigger.name);
        let task = tasks.spawn(
            async move {
                let report = run_one(&listener, trigger, &event, creator.as_ref(), &options).await;
                (index, report)
            }
            .instrument(span),
        );
        indexes.insert(task.id(), index);
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, done)) => reports.push(done),
            Err(e) => {
                // A bug in this listener, not in the event: reported as an internal failure of
                // that trigger so the sender is told (500), never silently dropped.
                let Some((index, trigger)) = indexes
                    .get(&e.id())
                    .and_then(|&i| listener.triggers.get(i).map(|t| (i, t)))
                else {
                    tracing::error!(error = %e, "trigger task failed");
                    continue;
                };
                tracing::error!(trigger = %trigger.name, error = %e, "trigger task panicked");
                reports.push((
                    index,
                    TriggerReport {
                        trigger: Arc::clone(trigger),
                        outcome: TriggerOutcome::Failed {
                            created: Vec::new(),
                            error: super::Error::Internal(e.to_string()),
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
) -> TriggerReport {
    let ctx = ProcessContext {
        event_listener: &listener.name,
        event_listener_namespace: &listener.namespace,
        creator,
        metrics: options.metrics.as_deref(),
    };
    let mut explanation = Explanation::default();
    let outcome = if options.explain {
        process_explained(&trigger, event, ctx, &mut explanation).await
    } else {
        super::process(&trigger, event, ctx).await
    };
    log_outcome(&outcome);
    TriggerReport {
        trigger,
        outcome,
        explanation,
    }
}

/// One structured line per trigger: what it created, or what stopped it and why, or what failed.
fn log_outcome(outcome: &TriggerOutcome) {
    match outcome {
        TriggerOutcome::Created(created) => {
            let names: Vec<String> = created
                .iter()
                .map(|c| format!("{}/{}/{}", c.kind, c.namespace, c.name))
                .collect();
            if crate::resources::only_duplicates(created) {
                tracing::info!(outcome = "duplicate", found = %names.join(","), "trigger's resources already existed for this delivery ID");
            } else {
                tracing::info!(outcome = "created", created = %names.join(","), "trigger created resources");
            }
        }
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

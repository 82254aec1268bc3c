//! One event through one trigger.

use crate::binding::EventDocument;
use crate::event::Extensions;
use crate::interceptors::{ChainOutcome, Decision, SharedEvent, run_chain_observed};
use crate::resources::{
    CancelRequest, CancelStamp, CreateContext, Created, Creator, IdempotencyKey, Resource,
    service_account_user,
};

use super::{Error, ResolvedTrigger, TriggerOutcome};

/// What processing needs besides the trigger and the event.
#[derive(Debug, Clone, Copy)]
pub struct ProcessContext<'a> {
    /// EventListener name (label value).
    pub event_listener: &'a str,
    /// EventListener namespace (part of the idempotency key).
    pub event_listener_namespace: &'a str,
    /// Where created objects go.
    pub creator: &'a dyn Creator,
    /// Where to record how long each interceptor and each create took; `None`: nowhere.
    pub metrics: Option<&'a crate::metrics::Metrics>,
}

/// What happened inside one trigger, step by step (`triggerrun --explain`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explanation {
    /// Each interceptor that decided: name, and its decision.
    pub interceptors: Vec<(String, Decision)>,
    /// Each template param: name, value, and where the value came from (`binding $(…)`,
    /// `default`); empty when the trigger stopped before the bindings.
    pub params: Vec<ParamSource>,
}

/// One template param's value and origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSource {
    /// Param name.
    pub name: String,
    /// Its value, or `None` when it has none.
    pub value: Option<String>,
    /// `binding <value as written>`, `default`, or `none`.
    pub source: String,
}

/// Runs `trigger` for `event`: the interceptor chain, then the bindings (with the chain's
/// extensions), then the template (one new `$(uid)`), then creation of every object in order,
/// stopping at the first failure (§2.7).
pub async fn process(
    trigger: &ResolvedTrigger,
    event: &SharedEvent,
    ctx: ProcessContext<'_>,
) -> TriggerOutcome {
    run(trigger, event, ctx, Extensions::new(), None).await
}

/// [`process`], also recording each step in `explanation`.
pub async fn process_explained(
    trigger: &ResolvedTrigger,
    event: &SharedEvent,
    ctx: ProcessContext<'_>,
    explanation: &mut Explanation,
) -> TriggerOutcome {
    run(trigger, event, ctx, Extensions::new(), Some(explanation)).await
}

/// [`process`] starting from `extensions` (a trigger group's, §2.6) instead of none.
pub(super) async fn run(
    trigger: &ResolvedTrigger,
    event: &SharedEvent,
    ctx: ProcessContext<'_>,
    extensions: Extensions,
    mut explanation: Option<&mut Explanation>,
) -> TriggerOutcome {
    let failed = |error| TriggerOutcome::Failed {
        created: Vec::new(),
        error,
    };
    // The chain runs one interceptor after the other and tells each decision at once: the time
    // between two decisions is the second interceptor's.
    let mut mark = std::time::Instant::now();
    let chain = run_chain_observed(
        &trigger.interceptors,
        event,
        extensions,
        |name, decision| {
            if let Some(metrics) = ctx.metrics {
                metrics.interceptor_ran(name, mark.elapsed());
                mark = std::time::Instant::now();
            }
            if let Some(e) = explanation.as_deref_mut() {
                e.interceptors.push((name.to_owned(), decision.clone()));
            }
        },
    )
    .await;
    let (extensions, replaced) = match chain {
        Ok(ChainOutcome::Continue {
            extensions,
            replaced,
        }) => (extensions, replaced),
        Ok(ChainOutcome::Stopped {
            interceptor,
            reason,
            message,
            ..
        }) => {
            return TriggerOutcome::Stopped {
                interceptor,
                reason,
                message,
            };
        }
        Err((_, interceptor, source)) => {
            return failed(Error::Interceptor {
                interceptor,
                source,
            });
        }
    };

    // A legacy webhook's answer replaced the body and headers the bindings read.
    let event = replaced.as_deref().unwrap_or(event);
    let body = match event.binding_body(!trigger.interceptors.is_empty()) {
        Ok(body) => body,
        Err(e) => return failed(Error::Body(e.clone())),
    };
    let document = EventDocument {
        body,
        header: event.event().headers(),
        extensions: &extensions,
        event_id: event.event().event_id(),
    };
    let mut values = Vec::with_capacity(trigger.params.len());
    for (name, template) in &trigger.params {
        match template.render(&document, trigger.template.default_of(name)) {
            Ok(value) => values.push((name.clone(), value)),
            Err(source) => {
                return failed(Error::Binding {
                    param: name.clone(),
                    value: template.source().to_owned(),
                    source,
                });
            }
        }
    }
    if let Some(e) = explanation {
        e.params = explain_params(trigger, &values);
    }
    let cancel = trigger
        .cancel
        .as_ref()
        .and_then(|c| c.stamp(&document, chrono::Utc::now()));

    // With a delivery ID, everything random in what this trigger creates is a function of it,
    // so a redelivery names its objects alike and finds them already created.
    let idempotency = event
        .event()
        .delivery_id()
        .map(|delivery_id| IdempotencyKey {
            event_listener_namespace: ctx.event_listener_namespace,
            event_listener: ctx.event_listener,
            trigger: &trigger.name,
            delivery_id,
        });
    let uid = idempotency.map_or_else(|| crate::event::new_uuid().to_string(), |k| k.uid());
    let objects = trigger.template.render(&values, &uid);
    let mut created = Vec::with_capacity(objects.len());
    for (index, object) in objects.into_iter().enumerate() {
        let create_ctx = CreateContext {
            event_listener: ctx.event_listener,
            event_id: event.event().event_id(),
            trigger: &trigger.name,
            namespace: &trigger.namespace,
            service_account: trigger.service_account.as_deref(),
            idempotency,
            index,
        };
        let kind = object.kind.clone().unwrap_or_default();
        let result = match Resource::prepare(object, &create_ctx) {
            Ok(mut resource) => {
                if let Some(stamp) = &cancel {
                    resource.mark_cancellable(stamp);
                }
                let started = std::time::Instant::now();
                let result = ctx.creator.create(resource).await;
                if let Some(metrics) = ctx.metrics {
                    metrics.resource_create_took(&kind, started.elapsed());
                }
                result
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(c) => {
                if let Some(stamp) = &cancel {
                    cancel_superseded(trigger, ctx, &c, stamp).await;
                }
                created.push(c);
            }
            Err(source) => {
                return TriggerOutcome::Failed {
                    created,
                    error: Error::Create { kind, source },
                };
            }
        }
    }
    TriggerOutcome::Created(created)
}

/// After `created` was created: cancels the runs it supersedes (a new PipelineRun of a trigger
/// that opts in, with an order stamp), counting what was cancelled and what failed. Never fails
/// the trigger.
async fn cancel_superseded(
    trigger: &ResolvedTrigger,
    ctx: ProcessContext<'_>,
    created: &Created,
    stamp: &CancelStamp,
) {
    let (Some(settings), Some(order)) = (&trigger.cancel, stamp.order) else {
        return;
    };
    // A duplicate is a redelivery that found its run already there: it supersedes nothing new.
    if created.duplicate || created.kind != "PipelineRun" {
        return;
    }
    let impersonate = service_account_user(&trigger.namespace, trigger.service_account.as_deref());
    let request = CancelRequest {
        trigger: &trigger.name,
        key_label: &stamp.key_label,
        order,
        status: settings.status(),
        impersonate: impersonate.as_deref(),
    };
    let report = ctx.creator.cancel_superseded(created, &request).await;
    if let Some(metrics) = ctx.metrics {
        metrics.superseded(&trigger.name, report.cancelled.len(), report.failed);
    }
}

/// Where each template param's value comes from.
fn explain_params(trigger: &ResolvedTrigger, values: &[(String, String)]) -> Vec<ParamSource> {
    trigger
        .template
        .params()
        .iter()
        .map(|decl| {
            let bound = values.iter().find(|(n, _)| *n == decl.name);
            let written = trigger
                .params
                .iter()
                .find(|(n, _)| *n == decl.name)
                .map(|(_, t)| t.source());
            match (bound, written, &decl.default) {
                (Some((_, v)), Some(w), _) => ParamSource {
                    name: decl.name.clone(),
                    value: Some(v.clone()),
                    source: format!("binding {w}"),
                },
                (_, _, Some(d)) => ParamSource {
                    name: decl.name.clone(),
                    value: Some(d.clone()),
                    source: "default".into(),
                },
                _ => ParamSource {
                    name: decl.name.clone(),
                    value: None,
                    source: "none".into(),
                },
            }
        })
        .collect()
}

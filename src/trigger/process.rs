//! One event through one trigger.

use crate::binding::EventDocument;
use crate::event::Extensions;
use crate::interceptors::{ChainOutcome, SharedEvent, run_chain};
use crate::resources::{CreateContext, Creator, Resource};

use super::{Error, ResolvedTrigger, TriggerOutcome};

/// What processing needs besides the trigger and the event.
#[derive(Debug, Clone, Copy)]
pub struct ProcessContext<'a> {
    /// EventListener name (label value).
    pub event_listener: &'a str,
    /// Where created objects go.
    pub creator: &'a dyn Creator,
}

/// Runs `trigger` for `event`: the interceptor chain, then the bindings (with the chain's
/// extensions), then the template (one new `$(uid)`), then creation of every object in order,
/// stopping at the first failure (§2.7).
pub async fn process(
    trigger: &ResolvedTrigger,
    event: &SharedEvent,
    ctx: ProcessContext<'_>,
) -> TriggerOutcome {
    let failed = |error| TriggerOutcome::Failed {
        created: Vec::new(),
        error,
    };
    let extensions = match run_chain(&trigger.interceptors, event, Extensions::new()).await {
        Ok(ChainOutcome::Continue(extensions)) => extensions,
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

    let document = EventDocument {
        body: event.event().body(),
        header: event.binding_headers(),
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

    let uid = uuid::Uuid::new_v4().to_string();
    let objects = match trigger.template.render(&values, &uid) {
        Ok(objects) => objects,
        Err(e) => return failed(e.into()),
    };
    let create_ctx = CreateContext {
        event_listener: ctx.event_listener,
        event_id: event.event().event_id(),
        trigger: &trigger.name,
        namespace: &trigger.namespace,
    };
    let mut created = Vec::with_capacity(objects.len());
    for object in objects {
        let kind = object
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let result = match Resource::prepare(object, &create_ctx) {
            Ok(resource) => ctx.creator.create(resource).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(c) => created.push(c),
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

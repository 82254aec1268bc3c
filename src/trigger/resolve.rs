//! Turning an EventListener's triggers, as written, into [`ResolvedTrigger`]s: references looked
//! up in the [`Catalog`], interceptors built, binding values and templates compiled. Every
//! problem is collected (not just the first), each naming the trigger and the field.

use std::sync::Arc;

use crate::api::{
    EventListener, EventListenerTrigger, TriggerInterceptor, TriggerSpecBinding,
    TriggerSpecTemplate,
};
use crate::binding::ParamTemplate;
use crate::interceptors::{self, BuildContext};
use crate::manifest::{Catalog, namespace_of};
use crate::secrets::SecretStore;
use crate::template::CompiledTemplate;

use super::ResolvedTrigger;

/// A configuration problem in one trigger.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("trigger {trigger:?}: {field}: {message}")]
pub struct ResolveError {
    /// Trigger name.
    pub trigger: String,
    /// Field at fault, e.g. `bindings[0].ref` or `interceptors[1]`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// What a trigger spec says, whichever object it came from.
struct TriggerParts<'a> {
    name: String,
    namespace: String,
    bindings: &'a [TriggerSpecBinding],
    template: Option<&'a TriggerSpecTemplate>,
    interceptors: &'a [TriggerInterceptor],
    service_account: Option<String>,
}

impl<'a> TriggerParts<'a> {
    /// The parts of a Trigger object; without a namespace of its own it is in `default_ns`.
    fn of(t: &'a crate::api::Trigger, default_ns: &str) -> Self {
        Self {
            name: t.metadata.name.clone(),
            namespace: namespace_of(&t.metadata, default_ns).to_owned(),
            bindings: &t.spec.bindings,
            template: t.spec.template.as_ref(),
            interceptors: &t.spec.interceptors,
            service_account: t.spec.service_account_name.clone(),
        }
    }
}

/// Resolves every trigger of `listener` (in `namespace`, the EventListener's). Objects without a
/// namespace in the catalog count as in `namespace`.
///
/// # Errors
/// Every problem found, in trigger order.
pub fn resolve(
    listener: &EventListener,
    namespace: &str,
    catalog: &Catalog,
    secrets: &Arc<dyn SecretStore>,
) -> Result<Vec<ResolvedTrigger>, Vec<ResolveError>> {
    let (resolved, mut errors) = resolve_each(listener, namespace, catalog, secrets);
    if resolved.is_empty() && errors.is_empty() {
        errors.push(ResolveError {
            trigger: String::new(),
            field: format!("EventListener {} spec.triggers", listener.metadata.name),
            message: "no triggers (none listed and none selected)".into(),
        });
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

/// Every trigger of `listener` that resolves, and a [`ResolveError`] for each problem of the
/// others (a trigger with several problems has several): what cluster mode serves, leaving
/// broken triggers out instead of refusing the whole configuration. No triggers at all is not
/// an error here.
pub fn resolve_each(
    listener: &EventListener,
    namespace: &str,
    catalog: &Catalog,
    secrets: &Arc<dyn SecretStore>,
) -> (Vec<ResolvedTrigger>, Vec<ResolveError>) {
    let mut errors = Vec::new();
    let spec = &listener.spec;
    if spec.trigger_groups.is_some() {
        errors.push(ResolveError {
            trigger: String::new(),
            field: format!(
                "EventListener {} spec.triggerGroups",
                listener.metadata.name
            ),
            message: "not supported yet; list the triggers in spec.triggers or select them".into(),
        });
    }
    let mut resolved = Vec::new();
    // Selected Triggers first, then spec.triggers, as upstream (§2.6).
    match select(listener, namespace, catalog) {
        Ok(selected) => {
            for t in selected {
                let parts = TriggerParts::of(t, namespace);
                match resolve_one(&parts, namespace, catalog, secrets) {
                    Ok(t) => resolved.push(t),
                    Err(mut e) => errors.append(&mut e),
                }
            }
        }
        Err(e) => errors.push(e),
    }
    for (index, entry) in spec.triggers.iter().enumerate() {
        match parts_of(entry, index, namespace, catalog) {
            Ok(parts) => match resolve_one(&parts, namespace, catalog, secrets) {
                Ok(t) => resolved.push(t),
                Err(mut e) => errors.append(&mut e),
            },
            Err(e) => errors.push(e),
        }
    }
    (resolved, errors)
}

/// The Triggers selected by `namespaceSelector` and `labelSelector` (§2.6): `matchNames` exactly
/// `["*"]` is every namespace, other names are those namespaces, none with a `labelSelector` is
/// the EventListener's namespace, and neither selector selects nothing. A Trigger selected twice
/// runs twice, as upstream.
fn select<'a>(
    listener: &EventListener,
    namespace: &str,
    catalog: &'a Catalog,
) -> Result<Vec<&'a crate::api::Trigger>, ResolveError> {
    let spec = &listener.spec;
    let names = spec
        .namespace_selector
        .as_ref()
        .map(|s| s.match_names.as_slice())
        .unwrap_or_default();
    let namespaces: Option<Vec<&str>> = match (names, &spec.label_selector) {
        ([], None) => return Ok(Vec::new()),
        ([all], _) if all == "*" => None,
        ([], Some(_)) => Some(vec![namespace]),
        (names, _) => Some(names.iter().map(String::as_str).collect()),
    };
    let everything = crate::api::LabelSelector::default();
    let labels = spec.label_selector.as_ref().unwrap_or(&everything);
    let mut selected = Vec::new();
    let in_scope = |t: &&crate::manifest::Loaded<crate::api::Trigger>, ns: &str| {
        namespace_of(&t.object.metadata, namespace) == ns
    };
    let scopes: Vec<Option<&str>> = match &namespaces {
        None => vec![None],
        Some(list) => list.iter().map(|ns| Some(*ns)).collect(),
    };
    for scope in scopes {
        for t in catalog
            .triggers
            .iter()
            .filter(|t| scope.is_none_or(|ns| in_scope(t, ns)))
        {
            let matched = labels
                .matches(&t.object.metadata.labels)
                .map_err(|message| ResolveError {
                    trigger: String::new(),
                    field: format!(
                        "EventListener {} spec.labelSelector",
                        listener.metadata.name
                    ),
                    message,
                })?;
            if matched {
                selected.push(&t.object);
            }
        }
    }
    Ok(selected)
}

fn parts_of<'a>(
    entry: &'a EventListenerTrigger,
    index: usize,
    namespace: &str,
    catalog: &'a Catalog,
) -> Result<TriggerParts<'a>, ResolveError> {
    let label = if entry.name.is_empty() {
        format!("spec.triggers[{index}]")
    } else {
        entry.name.clone()
    };
    match &entry.trigger_ref {
        Some(name) => {
            if entry.template.is_some()
                || !entry.bindings.is_empty()
                || !entry.interceptors.is_empty()
            {
                return Err(ResolveError {
                    trigger: label,
                    field: "triggerRef".into(),
                    message:
                        "triggerRef cannot be combined with template, bindings or interceptors"
                            .into(),
                });
            }
            let found =
                catalog
                    .trigger(namespace, namespace, name)
                    .ok_or_else(|| ResolveError {
                        trigger: label.clone(),
                        field: "triggerRef".into(),
                        message: catalog.missing("Trigger", namespace, name),
                    })?;
            Ok(TriggerParts::of(&found.object, namespace))
        }
        None => Ok(TriggerParts {
            name: entry.name.clone(),
            namespace: namespace.to_owned(),
            bindings: &entry.bindings,
            template: entry.template.as_ref(),
            interceptors: &entry.interceptors,
            service_account: entry.service_account_name.clone(),
        }),
    }
}

fn resolve_one(
    parts: &TriggerParts<'_>,
    default_ns: &str,
    catalog: &Catalog,
    secrets: &Arc<dyn SecretStore>,
) -> Result<ResolvedTrigger, Vec<ResolveError>> {
    let mut errors = Vec::new();
    let err = |field: String, message: String| ResolveError {
        trigger: parts.name.clone(),
        field,
        message,
    };

    // Interceptors.
    let build_ctx = BuildContext {
        namespace: parts.namespace.clone(),
        secrets: Arc::clone(secrets),
    };
    let mut chain = Vec::new();
    for (i, interceptor) in parts.interceptors.iter().enumerate() {
        let field = format!("interceptors[{i}]");
        if interceptor.webhook.is_some() {
            errors.push(err(
                field,
                "webhook interceptors are not supported yet".into(),
            ));
            continue;
        }
        let kind = interceptor
            .reference
            .as_ref()
            .and_then(|r| r.kind.as_deref())
            .unwrap_or_default();
        if !kind.is_empty() && kind != "ClusterInterceptor" {
            errors.push(err(
                format!("{field}.ref.kind"),
                format!("{kind} is not supported yet (only the built-in ClusterInterceptors)"),
            ));
            continue;
        }
        let Some((name, params)) = interceptor.normalized() else {
            errors.push(err(
                field,
                "names no interceptor (ref.name, github, cel, …)".into(),
            ));
            continue;
        };
        match interceptors::build(&name, &params, &build_ctx) {
            Ok(built) => chain.push(built),
            Err(e) => errors.push(err(field, e.to_string())),
        }
    }

    // Bindings → params.
    let mut params: Vec<(String, ParamTemplate)> = Vec::new();
    for (i, binding) in parts.bindings.iter().enumerate() {
        let field = format!("bindings[{i}]");
        let source: Vec<(String, String)> =
            match binding_params(binding, &parts.namespace, default_ns, catalog) {
                Ok(p) => p,
                Err(message) => {
                    errors.push(err(field, message));
                    continue;
                }
            };
        for (name, value) in source {
            if params.iter().any(|(n, _)| *n == name) {
                errors.push(err(field.clone(), format!("duplicate param name: {name}")));
                continue;
            }
            match ParamTemplate::parse(&value) {
                Ok(t) => params.push((name, t)),
                Err(e) => errors.push(err(format!("{field} param {name}"), e.to_string())),
            }
        }
    }

    // Template.
    let template = match template_spec(parts, default_ns, catalog) {
        Ok(spec) => match CompiledTemplate::from_spec(spec) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(err("template".into(), e.to_string()));
                None
            }
        },
        Err(message) => {
            errors.push(err("template".into(), message));
            None
        }
    };

    match template {
        Some(template) if errors.is_empty() => Ok(ResolvedTrigger {
            name: parts.name.clone(),
            namespace: parts.namespace.clone(),
            interceptors: chain,
            params,
            template,
            service_account: parts.service_account.clone(),
        }),
        _ => Err(errors),
    }
}

/// The `(name, value)` params a binding entry contributes (§1.4).
fn binding_params(
    binding: &TriggerSpecBinding,
    namespace: &str,
    default_ns: &str,
    catalog: &Catalog,
) -> Result<Vec<(String, String)>, String> {
    if let (Some(name), Some(value)) = (&binding.name, &binding.value) {
        if binding.reference.is_some() {
            return Err("a binding has either name/value or ref, not both".into());
        }
        if name.is_empty() {
            return Err("inline binding without a name".into());
        }
        return Ok(vec![(name.clone(), value.clone())]);
    }
    let Some(reference) = binding.reference.as_deref().filter(|r| !r.is_empty()) else {
        return Err("invalid binding: neither name/value nor ref".into());
    };
    let kind = binding.kind.as_deref().unwrap_or("TriggerBinding");
    let found = match kind {
        "ClusterTriggerBinding" => catalog.cluster_trigger_binding(reference),
        "TriggerBinding" | "" => catalog.trigger_binding(default_ns, namespace, reference),
        other => return Err(format!("unknown binding kind {other:?}")),
    };
    let found = found.ok_or_else(|| match kind {
        "ClusterTriggerBinding" => catalog.missing("ClusterTriggerBinding", "", reference),
        _ => catalog.missing("TriggerBinding", namespace, reference),
    })?;
    Ok(found
        .object
        .spec
        .params
        .iter()
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect())
}

fn template_spec<'a>(
    parts: &TriggerParts<'a>,
    default_ns: &str,
    catalog: &'a Catalog,
) -> Result<&'a crate::api::TriggerTemplateSpec, String> {
    let t = parts
        .template
        .ok_or("missing: a trigger needs template.ref or template.spec")?;
    if let Some(spec) = &t.spec {
        return Ok(spec);
    }
    let name = t
        .reference
        .as_deref()
        .or(t.name.as_deref())
        .filter(|n| !n.is_empty())
        .ok_or("template has neither ref nor spec")?;
    catalog
        .trigger_template(default_ns, &parts.namespace, name)
        .map(|t| &t.object.spec)
        .ok_or_else(|| catalog.missing("TriggerTemplate", &parts.namespace, name))
}

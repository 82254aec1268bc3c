//! Turning an EventListener's triggers, as written, into [`ResolvedTrigger`]s: references looked
//! up in the [`Catalog`], interceptors built, binding values and templates compiled. Every
//! problem is collected (not just the first), each naming the trigger and the field.

use std::sync::Arc;

use crate::api::{
    EventListener, EventListenerTrigger, EventListenerTriggerGroup, LabelSelector,
    NamespaceSelector, TriggerInterceptor, TriggerSpecBinding, TriggerSpecTemplate,
};
use crate::binding::ParamTemplate;
use crate::interceptors::legacy_webhook::LegacyWebhook;
use crate::interceptors::webhook::{self, Webhook};
use crate::interceptors::{self, BuildContext, Interceptor};
use crate::manifest::{Catalog, namespace_of};
use crate::secrets::SecretStore;
use crate::template::CompiledTemplate;

use super::{CancelSuperseded, ResolvedTrigger, TriggerGroup};

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

/// How triggers are resolved, beyond the objects.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// Deadline of each call to a ClusterInterceptor or Interceptor (`serve
    /// --interceptor-timeout`).
    pub interceptor_timeout: std::time::Duration,
    /// Where the github interceptor's `addChangedFiles` and `githubOwners` call the GitHub API.
    pub github_api: crate::github_api::Endpoint,
}

impl Default for ResolveOptions {
    /// [`interceptors::webhook::DEFAULT_TIMEOUT`].
    fn default() -> Self {
        Self {
            interceptor_timeout: interceptors::webhook::DEFAULT_TIMEOUT,
            github_api: crate::github_api::Endpoint::default(),
        }
    }
}

/// Where a chain's interceptors are looked up, and for which trigger.
struct ChainContext<'a> {
    /// Interceptors and ClusterInterceptors are found here.
    catalog: &'a Catalog,
    /// The EventListener's namespace: Interceptors (`kind: NamespacedInterceptor`) are looked
    /// up there, not in the Trigger's (reference §1.1).
    listener_namespace: &'a str,
    /// `context.trigger_id` sent to interceptors over HTTP (reference §3.1).
    trigger_id: String,
    options: &'a ResolveOptions,
}

/// What a trigger spec says, whichever object it came from.
struct TriggerParts<'a> {
    name: String,
    namespace: String,
    bindings: &'a [TriggerSpecBinding],
    template: Option<&'a TriggerSpecTemplate>,
    interceptors: &'a [TriggerInterceptor],
    service_account: Option<String>,
    /// The Trigger's annotations (inline triggers have none).
    annotations: Option<&'a std::collections::BTreeMap<String, String>>,
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
            annotations: Some(&t.metadata.annotations),
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
    options: &ResolveOptions,
) -> Result<Vec<ResolvedTrigger>, Vec<ResolveError>> {
    let (resolved, mut errors) = resolve_each(listener, namespace, catalog, secrets, options);
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
    options: &ResolveOptions,
) -> (Vec<ResolvedTrigger>, Vec<ResolveError>) {
    let mut errors = Vec::new();
    let spec = &listener.spec;
    let mut resolved = Vec::new();
    // Selected Triggers first, then spec.triggers, then each group's, as upstream (§2.6).
    let selected = select(
        spec.namespace_selector.as_ref(),
        spec.label_selector.as_ref(),
        || {
            format!(
                "EventListener {} spec.labelSelector",
                listener.metadata.name
            )
        },
        namespace,
        catalog,
    );
    match selected {
        Ok(selected) => {
            for t in selected {
                let parts = TriggerParts::of(t, namespace);
                match resolve_one(&parts, namespace, catalog, secrets, options) {
                    Ok(t) => resolved.push(t),
                    Err(mut e) => errors.append(&mut e),
                }
            }
        }
        Err(e) => errors.push(e),
    }
    for (index, entry) in spec.triggers.iter().enumerate() {
        match parts_of(entry, index, namespace, catalog) {
            Ok(parts) => match resolve_one(&parts, namespace, catalog, secrets, options) {
                Ok(t) => resolved.push(t),
                Err(mut e) => errors.append(&mut e),
            },
            Err(e) => errors.push(e),
        }
    }
    for (index, group) in spec.trigger_groups.iter().enumerate() {
        let (mut triggers, mut problems) =
            resolve_group(listener, group, index, namespace, catalog, secrets, options);
        resolved.append(&mut triggers);
        errors.append(&mut problems);
    }
    (resolved, errors)
}

/// The Triggers of one `triggerGroups` entry (§2.6), each carrying the group (whose chain runs
/// once per event before them), and the problems of the group and of its Triggers. A group with
/// a problem of its own (no interceptor, no selector, an interceptor that does not build; the
/// checks of upstream's webhook) runs none of its Triggers.
fn resolve_group(
    listener: &EventListener,
    group: &EventListenerTriggerGroup,
    index: usize,
    namespace: &str,
    catalog: &Catalog,
    secrets: &Arc<dyn SecretStore>,
    options: &ResolveOptions,
) -> (Vec<ResolvedTrigger>, Vec<ResolveError>) {
    let field = format!(
        "EventListener {} spec.triggerGroups[{index}]",
        listener.metadata.name
    );
    let mut errors = Vec::new();
    let err = |at: String, message: String| ResolveError {
        trigger: String::new(),
        field: if at.is_empty() {
            field.clone()
        } else {
            format!("{field}.{at}")
        },
        message,
    };
    if group.interceptors.is_empty() {
        errors.push(err(
            "interceptors".into(),
            "a trigger group needs at least one interceptor".into(),
        ));
    }
    let selector = &group.trigger_selector;
    if selector.namespace_selector.is_none() && selector.label_selector.is_none() {
        errors.push(err(
            "triggerSelector".into(),
            "a trigger group needs a labelSelector or a namespaceSelector".into(),
        ));
    }
    let build_ctx = BuildContext {
        namespace: namespace.to_owned(),
        secrets: Arc::clone(secrets),
        github_api: options.github_api.clone(),
    };
    let chain_ctx = ChainContext {
        catalog,
        listener_namespace: namespace,
        trigger_id: format!("namespaces/{namespace}/triggerGroups/{}", group.name),
        options,
    };
    let chain = build_chain(
        &group.interceptors,
        &build_ctx,
        &chain_ctx,
        &err,
        &mut errors,
    );
    if !errors.is_empty() {
        return (Vec::new(), errors);
    }
    let group = Arc::new(TriggerGroup {
        name: if group.name.is_empty() {
            format!("triggerGroups[{index}]")
        } else {
            group.name.clone()
        },
        interceptors: chain,
        index,
    });
    let selected = select(
        selector.namespace_selector.as_ref(),
        selector.label_selector.as_ref(),
        || format!("{field}.triggerSelector.labelSelector"),
        namespace,
        catalog,
    );
    let mut resolved = Vec::new();
    match selected {
        Ok(selected) => {
            for t in selected {
                let parts = TriggerParts::of(t, namespace);
                match resolve_one(&parts, namespace, catalog, secrets, options) {
                    Ok(mut t) => {
                        t.group = Some(Arc::clone(&group));
                        resolved.push(t);
                    }
                    Err(mut e) => errors.append(&mut e),
                }
            }
        }
        Err(e) => errors.push(e),
    }
    (resolved, errors)
}

/// The Triggers selected by `namespaceSelector` and `labelSelector` (§2.6), the EventListener's
/// or a trigger group's: `matchNames` exactly `["*"]` is every namespace, other names are those
/// namespaces, none with a `labelSelector` is the EventListener's namespace, and neither
/// selector selects nothing. A Trigger selected twice runs twice, as upstream. `field` names the
/// label selector in errors.
fn select<'a>(
    namespace_selector: Option<&NamespaceSelector>,
    label_selector: Option<&LabelSelector>,
    field: impl Fn() -> String,
    namespace: &str,
    catalog: &'a Catalog,
) -> Result<Vec<&'a crate::api::Trigger>, ResolveError> {
    let names = namespace_selector
        .map(|s| s.match_names.as_slice())
        .unwrap_or_default();
    let namespaces: Option<Vec<&str>> = match (names, label_selector) {
        ([], None) => return Ok(Vec::new()),
        ([all], _) if all == "*" => None,
        ([], Some(_)) => Some(vec![namespace]),
        (names, _) => Some(names.iter().map(String::as_str).collect()),
    };
    let everything = LabelSelector::default();
    let labels = label_selector.unwrap_or(&everything);
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
                    field: field(),
                    message,
                })?;
            if matched {
                selected.push(&t.object);
            }
        }
    }
    Ok(selected)
}

/// Builds an interceptor chain as written, each problem added to `errors` (named by `err`,
/// given the field under the chain, e.g. `interceptors[1].ref.kind`).
///
/// Which implementation serves a reference (reference §1.5, §1.8): the legacy `webhook:` form
/// calls its URL; `kind: NamespacedInterceptor` calls the Interceptor of that name in the
/// EventListener's namespace; `kind: ClusterInterceptor` (or none, as upstream's defaulting
/// gives) calls the ClusterInterceptor of that name when it has an address, and otherwise runs
/// the built-in interceptor of that name in-process (also when the ClusterInterceptor is
/// upstream's shipped one, [`webhook::is_core_interceptor`]). The legacy inline forms (`github:`,
/// `cel:`, …) are always the built-ins.
fn build_chain(
    interceptors: &[TriggerInterceptor],
    build_ctx: &BuildContext,
    chain_ctx: &ChainContext<'_>,
    err: &impl Fn(String, String) -> ResolveError,
    errors: &mut Vec<ResolveError>,
) -> Vec<Arc<dyn Interceptor>> {
    let mut chain: Vec<Arc<dyn Interceptor>> = Vec::new();
    for (i, interceptor) in interceptors.iter().enumerate() {
        let field = format!("interceptors[{i}]");
        if let Some(webhook) = &interceptor.webhook {
            match LegacyWebhook::build(webhook, &build_ctx.namespace, i == 0) {
                Ok(built) => chain.push(Arc::new(built)),
                Err(e) => errors.push(err(format!("{field}.webhook"), e.to_string())),
            }
            continue;
        }
        let kind = interceptor
            .reference
            .as_ref()
            .and_then(|r| r.kind.as_deref())
            .unwrap_or_default();
        let Some((name, params)) = interceptor.normalized() else {
            errors.push(err(
                field,
                "names no interceptor (ref.name, github, cel, …)".into(),
            ));
            continue;
        };
        let catalog = chain_ctx.catalog;
        let over_http = |object: &crate::api::Interceptor| {
            Webhook::build(
                &name,
                object,
                &params,
                chain_ctx.trigger_id.clone(),
                chain_ctx.options.interceptor_timeout,
            )
            .map(|w| Arc::new(w) as Arc<dyn Interceptor>)
            .map_err(|e| e.to_string())
        };
        let built = match kind {
            _ if interceptor.reference.is_none() => {
                interceptors::build(&name, &params, build_ctx).map_err(|e| e.to_string())
            }
            "NamespacedInterceptor" => {
                let ns = chain_ctx.listener_namespace;
                match catalog.interceptor(ns, ns, &name) {
                    Some(found) => over_http(&found.object),
                    None => Err(format!(
                        "url resolution failed for interceptor {name} with: {}",
                        catalog.missing("Interceptor", ns, &name)
                    )),
                }
            }
            "" | "ClusterInterceptor" => {
                let found = catalog.cluster_interceptor(&name);
                let built_in = interceptors::BUILT_IN.contains(&name.as_str());
                // Upstream's shipped core ClusterInterceptors name the built-ins: in-process.
                let addressed = found.filter(|f| {
                    webhook::interceptor_url(&f.object).is_some()
                        && !(built_in && webhook::is_core_interceptor(&f.object))
                });
                match (addressed, found) {
                    (Some(found), _) => over_http(&found.object),
                    _ if built_in => {
                        interceptors::build(&name, &params, build_ctx).map_err(|e| e.to_string())
                    }
                    (None, Some(found)) => over_http(&found.object),
                    (None, None)
                        if catalog
                            .undecodable
                            .iter()
                            .any(|u| u.kind == "ClusterInterceptor" && u.name == name) =>
                    {
                        Err(format!(
                            "url resolution failed for interceptor {name} with: {}",
                            catalog.missing("ClusterInterceptor", "", &name)
                        ))
                    }
                    (None, None) => {
                        Err(interceptors::BuildError::Unsupported(name.clone()).to_string())
                    }
                }
            }
            other => {
                errors.push(err(
                    format!("{field}.ref.kind"),
                    format!("{other:?} is not a kind of interceptor (ClusterInterceptor or NamespacedInterceptor)"),
                ));
                continue;
            }
        };
        match built {
            Ok(built) => chain.push(built),
            Err(message) => errors.push(err(field, message)),
        }
    }
    chain
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
            annotations: None,
        }),
    }
}

fn resolve_one(
    parts: &TriggerParts<'_>,
    default_ns: &str,
    catalog: &Catalog,
    secrets: &Arc<dyn SecretStore>,
    options: &ResolveOptions,
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
        github_api: options.github_api.clone(),
    };
    let chain_ctx = ChainContext {
        catalog,
        listener_namespace: default_ns,
        trigger_id: format!("namespaces/{}/triggers/{}", parts.namespace, parts.name),
        options,
    };
    let chain = build_chain(
        parts.interceptors,
        &build_ctx,
        &chain_ctx,
        &err,
        &mut errors,
    );

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

    // Cancelling superseded runs.
    let cancel = match parts.annotations.map(CancelSuperseded::from_annotations) {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(cancel))) => Some(cancel),
        Some(Err(problems)) => {
            errors.extend(
                problems
                    .into_iter()
                    .map(|(field, message)| err(field, message)),
            );
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
            cancel,
            group: None,
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

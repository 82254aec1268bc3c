//! `eventlistener validate -f PATH …`: check manifests before deploying them. Loads every file,
//! resolves every EventListener's and Trigger's references, compiles every CEL expression and
//! binding path, and dry-renders every TriggerTemplate (defaults, and a placeholder for params
//! without one). Every problem is reported, not just the first, with file, object, field and
//! (for CEL) line and column. Exit status 0 when clean, 1 otherwise: made for CI.

use std::path::PathBuf;

use clap::Args;

use crate::binding::ParamTemplate;
use crate::event_listener::{Listener, LoadError, LoadOptions};
use crate::manifest::{Catalog, Loaded, load_all};
use crate::resources::{CreateContext, Resource};
use crate::template::CompiledTemplate;

/// Flags of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files or directories. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    pub files: Vec<PathBuf>,
    /// Namespace of objects that name none.
    #[arg(long)]
    pub namespace: Option<String>,
}

/// Every problem in the manifests, each on one line (or a few, for CEL carets), deduplicated.
pub(super) fn problems(args: &ValidateArgs) -> (Catalog, Vec<String>) {
    let (catalog, load_errors) = load_all(&args.files);
    let mut problems: Vec<String> = load_errors.iter().map(ToString::to_string).collect();
    let mut add = |p: String| {
        if !problems.contains(&p) {
            problems.push(p);
        }
    };
    if catalog.event_listeners.is_empty() && load_errors.is_empty() {
        let paths: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
        add(format!(
            "{}: no EventListener: serve needs one to know which triggers to run",
            paths.join(", ")
        ));
    }
    for el in &catalog.event_listeners {
        let options = LoadOptions {
            paths: Vec::new(),
            listener: Some(el.object.metadata.name.clone()),
            namespace: args.namespace.clone(),
            require_trigger_service_account: false,
        };
        if let Err(e) = Listener::from_catalog(&catalog, &options) {
            report(&mut add, &el.origin.to_string(), e);
        }
    }
    if !catalog.triggers.is_empty() {
        let options = LoadOptions {
            namespace: args.namespace.clone(),
            ..LoadOptions::default()
        };
        if let Err(e) = Listener::from_triggers(&catalog, &options) {
            report(&mut add, "Triggers", e);
        }
    }
    for (kind, bindings) in [
        ("TriggerBinding", &catalog.trigger_bindings),
        ("ClusterTriggerBinding", &catalog.cluster_trigger_bindings),
    ] {
        for b in bindings {
            for p in &b.object.spec.params {
                if let Err(e) = ParamTemplate::parse(&p.value) {
                    add(format!(
                        "{}: {kind} {}: param {}: {e}",
                        b.origin, b.object.metadata.name, p.name
                    ));
                }
            }
        }
    }
    for t in &catalog.trigger_templates {
        if let Err(e) = dry_render(t) {
            add(format!(
                "{}: TriggerTemplate {}: {e}",
                t.origin, t.object.metadata.name
            ));
        }
    }
    (catalog, problems)
}

fn report(add: &mut impl FnMut(String), place: &str, error: LoadError) {
    match error {
        LoadError::Triggers { listener, errors } => {
            for e in errors {
                add(format!("{place}: EventListener {listener}: {e}"));
            }
        }
        other => add(format!("{place}: {other}")),
    }
}

/// Compiles the template and renders it with its defaults (placeholders for the other params),
/// then checks each object could be created.
fn dry_render(t: &Loaded<crate::api::TriggerTemplate>) -> Result<(), String> {
    let spec = &t.object.spec;
    let template = CompiledTemplate::from_spec(spec).map_err(|e| e.to_string())?;
    let values: Vec<(String, String)> = spec
        .params
        .iter()
        .filter(|p| p.default.is_none())
        .map(|p| (p.name.clone(), format!("dry-run-{}", p.name)))
        .collect();
    let objects = template
        .render(&values, "dry-run-uid")
        .map_err(|e| e.to_string())?;
    let ctx = CreateContext {
        event_listener: "validate",
        event_id: "validate",
        trigger: "validate",
        namespace: "default",
        service_account: None,
        idempotency: None,
        index: 0,
    };
    for (i, object) in objects.into_iter().enumerate() {
        Resource::prepare(object, &ctx).map_err(|e| format!("resourcetemplates[{i}]: {e}"))?;
    }
    Ok(())
}

pub(super) fn run(args: &ValidateArgs) -> anyhow::Result<()> {
    let (catalog, problems) = problems(args);
    if problems.is_empty() {
        println!(
            "ok: {} EventListener(s), {} Trigger(s), {} TriggerBinding(s), {} ClusterTriggerBinding(s), {} TriggerTemplate(s), {} Secret(s)",
            catalog.event_listeners.len(),
            catalog.triggers.len(),
            catalog.trigger_bindings.len(),
            catalog.cluster_trigger_bindings.len(),
            catalog.trigger_templates.len(),
            catalog.secrets.len()
        );
        return Ok(());
    }
    for p in &problems {
        println!("{p}");
    }
    anyhow::bail!("{} problem(s) found", problems.len())
}

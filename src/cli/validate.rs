//! `eventlistener validate -f PATH …`: check manifests before deploying them. Loads every file,
//! flags keys a kind does not have (with the closest known name), resolves every
//! EventListener's and Trigger's references, compiles every CEL expression and binding path,
//! and dry-renders every TriggerTemplate (defaults, and a placeholder for params without one).
//! Every problem is reported once, not just the first, as `file:line:column: error: …` (or as
//! one JSON document with `-o json`). Template params that no binding supplies and that have no
//! default are warnings. Exit status 0 when there is no error, 1 otherwise: made for CI.
//!
//! `serve -f` runs the same check ([`check`]) and refuses to start on an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use crate::api::{EventListener, TriggerSpecTemplate};
use crate::binding::ParamTemplate;
use crate::event_listener::{Listener, LoadError, LoadOptions};
use crate::manifest::positions::{FieldPath, FilePositions, Position};
use crate::manifest::{self, Catalog, Loaded, Origin, load_all};
use crate::resources::{CreateContext, Resource};
use crate::template::CompiledTemplate;
use crate::trigger::ResolveError;

/// Flags of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files or directories. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    pub files: Vec<PathBuf>,
    /// Namespace of objects that name none.
    #[arg(long)]
    pub namespace: Option<String>,
    /// `text`: one `file:line:column: severity: …` line per problem; `json`: one JSON document
    /// `{ok, problems, counts}` on stdout, for CI.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Output format of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// One line per problem, then a summary.
    Text,
    /// One JSON document.
    Json,
}

/// How bad a problem is: an error fails `validate` and refuses `serve -f`; a warning does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Severity {
    /// Would fail.
    Error,
    /// Works, maybe not as meant.
    Warning,
}

/// One problem found in the manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Problem {
    /// Error or warning.
    pub(super) severity: Severity,
    /// The file (or the `-f` paths, for a problem of them all).
    pub(super) file: String,
    /// 1-based line of the offending node, when known.
    pub(super) line: Option<u64>,
    /// 1-based column of the offending node, when known.
    pub(super) column: Option<u64>,
    /// Kind of the object at fault, e.g. `Trigger`; empty for a file's problem.
    pub(super) kind: String,
    /// Its `metadata.name`.
    pub(super) name: String,
    /// Path of the field at fault, e.g. `spec.triggers[0].bindngs`; empty for the whole object.
    pub(super) field: String,
    /// What is wrong.
    pub(super) message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, ": {severity}: ")?;
        if !self.kind.is_empty() {
            write!(f, "{} {}: ", self.kind, self.name)?;
        }
        write!(f, "{}", self.message)
    }
}

/// Every problem of the manifests, in the order found, each once.
#[derive(Debug, Default)]
pub(super) struct Report {
    /// The problems.
    pub(super) problems: Vec<Problem>,
    positions: HashMap<PathBuf, FilePositions>,
}

impl Report {
    /// How many problems have `severity`.
    pub(super) fn count(&self, severity: Severity) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == severity)
            .count()
    }

    fn position(&mut self, origin: &Origin, path: &FieldPath) -> Option<Position> {
        if origin.document == 0 {
            return None;
        }
        self.positions
            .entry(origin.file.clone())
            .or_insert_with(|| FilePositions::of_file(&origin.file))
            .locate(origin.document, path)
    }

    fn push(&mut self, problem: Problem) {
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }

    /// A problem of a file as a whole.
    fn file(&mut self, file: &Path, position: Option<Position>, message: String) {
        self.push(Problem {
            severity: Severity::Error,
            file: file.display().to_string(),
            line: position.map(|p| p.line),
            column: position.map(|p| p.column),
            kind: String::new(),
            name: String::new(),
            field: String::new(),
            message,
        });
    }

    /// A problem at `path` of the `kind` object `name` read at `origin`.
    fn object(&mut self, severity: Severity, at: Place<'_>, path: &FieldPath, message: String) {
        let position = self.position(at.origin, path);
        self.push(Problem {
            severity,
            file: at.origin.file.display().to_string(),
            line: position.map(|p| p.line),
            column: position.map(|p| p.column),
            kind: at.kind.to_owned(),
            name: at.name.to_owned(),
            field: path.to_string(),
            message,
        });
    }
}

/// An object, where it was read.
#[derive(Clone, Copy)]
struct Place<'a> {
    origin: &'a Origin,
    kind: &'a str,
    name: &'a str,
}

/// Checks the manifests of `files` as `validate` does; `serve -f` calls it too.
pub(super) fn check(files: &[PathBuf], namespace: Option<&str>) -> (Catalog, Report) {
    let (catalog, load_errors) = load_all(files);
    let mut report = Report::default();
    for e in &load_errors {
        load_error(&mut report, e);
    }
    for file in &catalog.skipped {
        report.push(Problem {
            severity: Severity::Warning,
            file: file.display().to_string(),
            line: None,
            column: None,
            kind: String::new(),
            name: String::new(),
            field: String::new(),
            message: "skipped: not a Kubernetes object (no apiVersion or kind), e.g. an example \
                      payload; only files named on their own must be manifests"
                .into(),
        });
    }
    if catalog.event_listeners.is_empty() && load_errors.is_empty() {
        let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        report.push(Problem {
            severity: Severity::Error,
            file: paths.join(", "),
            line: None,
            column: None,
            kind: String::new(),
            name: String::new(),
            field: String::new(),
            message: "no EventListener: serve needs one to know which triggers to run".into(),
        });
    }
    for el in &catalog.event_listeners {
        let options = LoadOptions {
            paths: Vec::new(),
            listener: Some(el.object.metadata.name.clone()),
            namespace: namespace.map(str::to_owned),
            interceptor_timeout: None,
            ..LoadOptions::default()
        };
        match Listener::from_catalog(&catalog, &options) {
            Ok(listener) => unsupplied_params(&mut report, &catalog, Some(el), &listener),
            Err(e) => listener_error(&mut report, &catalog, el, e),
        }
        cancel_annotations_on_event_listener(&mut report, el);
    }
    if !catalog.triggers.is_empty() {
        let options = LoadOptions {
            namespace: namespace.map(str::to_owned),
            ..LoadOptions::default()
        };
        match Listener::from_triggers(&catalog, &options) {
            Ok(listener) => unsupplied_params(&mut report, &catalog, None, &listener),
            Err(LoadError::Triggers { errors, .. }) => {
                for e in errors {
                    resolve_error(&mut report, &catalog, None, &e);
                }
            }
            Err(e) => {
                if let Some(first) = catalog.triggers.first() {
                    let at = Place {
                        origin: &first.origin,
                        kind: "Trigger",
                        name: &first.object.metadata.name,
                    };
                    report.object(Severity::Error, at, &FieldPath::default(), e.to_string());
                }
            }
        }
    }
    for (kind, bindings) in [
        ("TriggerBinding", &catalog.trigger_bindings),
        ("ClusterTriggerBinding", &catalog.cluster_trigger_bindings),
    ] {
        for b in bindings {
            let at = Place {
                origin: &b.origin,
                kind,
                name: &b.object.metadata.name,
            };
            for (i, p) in b.object.spec.params.iter().enumerate() {
                if let Err(e) = ParamTemplate::parse(&p.value) {
                    let path = FieldPath::parse_prefix(&format!("spec.params[{i}].value"));
                    report.object(Severity::Error, at, &path, format!("param {}: {e}", p.name));
                }
            }
        }
    }
    for t in &catalog.trigger_templates {
        if let Err(e) = dry_render(t) {
            let at = Place {
                origin: &t.origin,
                kind: "TriggerTemplate",
                name: &t.object.metadata.name,
            };
            let path = if e.starts_with("resourcetemplates[") {
                FieldPath::parse_prefix(&format!("spec.{e}"))
            } else {
                FieldPath::parse_prefix(&e)
            };
            report.object(Severity::Error, at, &path, e);
        }
    }
    (catalog, report)
}

fn load_error(report: &mut Report, e: &manifest::Error) {
    use manifest::Error as E;
    match e {
        E::Read { path, source } => report.file(path, None, format!("cannot read: {source}")),
        E::Syntax {
            path,
            format,
            message,
            position,
        } => report.file(path, *position, format!("not valid {format}: {message}")),
        E::Empty { path } => {
            report.file(path, None, "no *.yaml, *.yml or *.json files found".into())
        }
        E::Document { origin, message } => {
            let at = report.position(origin, &FieldPath::default());
            report.file(&origin.file, at, message.clone());
        }
        E::Field {
            origin,
            kind,
            name,
            field,
            message,
        } => {
            let at = Place { origin, kind, name };
            let path = FieldPath::parse_prefix(field);
            report.object(Severity::Error, at, &path, format!("{field}: {message}"));
        }
        E::UnknownField {
            origin,
            kind,
            name,
            unknown,
            ..
        } => {
            let at = Place { origin, kind, name };
            let hint = unknown
                .suggestion
                .map(|s| format!(", did you mean `{s}`?"))
                .unwrap_or_default();
            let message = format!("unknown field `{}`{hint}", unknown.key);
            report.object(Severity::Error, at, &unknown.path, message);
        }
    }
}

fn listener_error(
    report: &mut Report,
    catalog: &Catalog,
    el: &Loaded<EventListener>,
    error: LoadError,
) {
    let at = Place {
        origin: &el.origin,
        kind: "EventListener",
        name: &el.object.metadata.name,
    };
    match error {
        LoadError::Triggers { errors, .. } => {
            for e in errors {
                resolve_error(report, catalog, Some(el), &e);
            }
        }
        LoadError::Secret { origin, source } => {
            // The Secret's name is not in the error; the message names it.
            let at = Place {
                origin: &origin,
                kind: "",
                name: "",
            };
            report.object(
                Severity::Error,
                at,
                &FieldPath::default(),
                source.to_string(),
            );
        }
        other => report.object(
            Severity::Error,
            at,
            &FieldPath::default(),
            other.to_string(),
        ),
    }
}

/// Where a trigger named in a [`ResolveError`] is written: an inline trigger of `el`
/// (`spec.triggers[i]`), else the Trigger object of that name. With the trigger's template.
struct TriggerPlace<'a> {
    place: Place<'a>,
    /// Path of the trigger's spec in the object: `spec.triggers[i]` or `spec`.
    spec: FieldPath,
    /// Inline in an EventListener (messages then name the trigger).
    inline: bool,
    template: Option<&'a TriggerSpecTemplate>,
}

fn trigger_place<'a>(
    catalog: &'a Catalog,
    el: Option<&'a Loaded<EventListener>>,
    trigger: &str,
    field: &str,
) -> Option<TriggerPlace<'a>> {
    let entry = el.and_then(|el| {
        el.object
            .spec
            .triggers
            .iter()
            .enumerate()
            .find(|(_, t)| {
                t.name == trigger
                    || (t.name.is_empty() && t.trigger_ref.as_deref() == Some(trigger))
            })
            .map(|(i, t)| (el, i, t))
    });
    if let Some((el, i, entry)) = entry
        && (entry.trigger_ref.is_none() || field == "triggerRef")
    {
        return Some(TriggerPlace {
            place: Place {
                origin: &el.origin,
                kind: "EventListener",
                name: &el.object.metadata.name,
            },
            spec: FieldPath::parse_prefix(&format!("spec.triggers[{i}]")),
            inline: true,
            template: entry.template.as_ref(),
        });
    }
    let name = entry
        .and_then(|(_, _, e)| e.trigger_ref.as_deref())
        .unwrap_or(trigger);
    catalog
        .triggers
        .iter()
        .find(|t| t.object.metadata.name == name)
        .map(|t| TriggerPlace {
            place: Place {
                origin: &t.origin,
                kind: "Trigger",
                name: &t.object.metadata.name,
            },
            spec: FieldPath::parse_prefix("spec"),
            inline: false,
            template: t.object.spec.template.as_ref(),
        })
}

fn resolve_error(
    report: &mut Report,
    catalog: &Catalog,
    el: Option<&Loaded<EventListener>>,
    e: &ResolveError,
) {
    match trigger_place(catalog, el, &e.trigger, &e.field) {
        Some(t) => {
            // A Trigger's own metadata (its cancel annotations) is not under its spec.
            let path = if e.field.starts_with("metadata.") && !t.inline {
                FieldPath::parse_prefix(&e.field)
            } else {
                t.spec.join(&FieldPath::parse_prefix(&e.field))
            };
            let message = if t.inline {
                e.to_string()
            } else {
                format!("{}: {}", e.field, e.message)
            };
            report.object(Severity::Error, t.place, &path, message);
        }
        None => match el {
            Some(el) => {
                let at = Place {
                    origin: &el.origin,
                    kind: "EventListener",
                    name: &el.object.metadata.name,
                };
                let path = FieldPath::parse_prefix("spec.triggers");
                report.object(Severity::Error, at, &path, e.to_string());
            }
            // Standalone Triggers: a problem of no one Trigger is placed at the first.
            None => {
                if let Some(first) = catalog.triggers.first() {
                    let at = Place {
                        origin: &first.origin,
                        kind: "Trigger",
                        name: &first.object.metadata.name,
                    };
                    report.object(Severity::Error, at, &FieldPath::default(), e.to_string());
                }
            }
        },
    }
}

/// A warning for each template param of each trigger that no binding supplies and that has no
/// default: it is rendered as the literal `$(tt.params.NAME)`, as upstream renders it, which is
/// seldom what the author meant.
fn unsupplied_params(
    report: &mut Report,
    catalog: &Catalog,
    el: Option<&Loaded<EventListener>>,
    listener: &Listener,
) {
    for trigger in &listener.triggers {
        let Some(place) = trigger_place(catalog, el, &trigger.name, "template") else {
            continue;
        };
        let template = place
            .template
            .and_then(|t| t.reference.as_deref().or(t.name.as_deref()))
            .map_or_else(|| "(inline)".to_owned(), str::to_owned);
        let path = place.spec.join(&FieldPath::parse_prefix("template"));
        for param in trigger.template.params() {
            let supplied = trigger.params.iter().any(|(name, _)| *name == param.name);
            if supplied || param.default.is_some() {
                continue;
            }
            let message = format!(
                "trigger {}: TriggerTemplate {template} param {p}: no binding supplies it and it \
                 has no default, so it is rendered literally as $(tt.params.{p}), as upstream \
                 renders it",
                trigger.name,
                p = param.name
            );
            report.object(Severity::Warning, place.place, &path, message);
        }
    }
}

/// A warning for each cancel annotation (`eventlistener.dev/cancel-…`) on an EventListener:
/// only Trigger objects opt in to cancelling superseded runs; on an EventListener they do
/// nothing.
fn cancel_annotations_on_event_listener(report: &mut Report, el: &Loaded<EventListener>) {
    let cancel = [
        crate::trigger::ANNOTATION_CANCEL_SUPERSEDED,
        crate::trigger::ANNOTATION_CANCEL_STATUS,
        crate::trigger::ANNOTATION_CANCEL_ORDER,
    ];
    for name in el.object.metadata.annotations.keys() {
        if !cancel.contains(&name.as_str()) {
            continue;
        }
        let at = Place {
            origin: &el.origin,
            kind: "EventListener",
            name: &el.object.metadata.name,
        };
        let message = format!(
            "metadata.annotations {name}: has no effect on an EventListener; annotate the \
             Trigger objects (inline triggers cannot opt in: refer to a Trigger with triggerRef)"
        );
        let path = FieldPath::parse_prefix("metadata.annotations");
        report.object(Severity::Warning, at, &path, message);
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
    let objects = template.render(&values, "dry-run-uid");
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

/// `-o json`: the whole report, keys in this order.
#[derive(Serialize)]
struct JsonReport<'a> {
    ok: bool,
    problems: &'a [Problem],
    counts: Counts,
}

/// Problems by severity and objects by kind.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Counts {
    errors: usize,
    warnings: usize,
    event_listeners: usize,
    triggers: usize,
    trigger_bindings: usize,
    cluster_trigger_bindings: usize,
    trigger_templates: usize,
    secrets: usize,
}

pub(super) fn run(args: &ValidateArgs) -> anyhow::Result<()> {
    let (catalog, report) = check(&args.files, args.namespace.as_deref());
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    match args.output {
        Output::Json => {
            let document = JsonReport {
                ok: errors == 0,
                problems: &report.problems,
                counts: Counts {
                    errors,
                    warnings,
                    event_listeners: catalog.event_listeners.len(),
                    triggers: catalog.triggers.len(),
                    trigger_bindings: catalog.trigger_bindings.len(),
                    cluster_trigger_bindings: catalog.cluster_trigger_bindings.len(),
                    trigger_templates: catalog.trigger_templates.len(),
                    secrets: catalog.secrets.len(),
                },
            };
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
        Output::Text => {
            for p in &report.problems {
                println!("{p}");
            }
            if errors == 0 {
                println!(
                    "ok: {} EventListener(s), {} Trigger(s), {} TriggerBinding(s), {} ClusterTriggerBinding(s), {} TriggerTemplate(s), {} Secret(s); {warnings} warning(s)",
                    catalog.event_listeners.len(),
                    catalog.triggers.len(),
                    catalog.trigger_bindings.len(),
                    catalog.cluster_trigger_bindings.len(),
                    catalog.trigger_templates.len(),
                    catalog.secrets.len()
                );
                let interceptors = catalog.cluster_interceptors.len() + catalog.interceptors.len();
                if interceptors > 0 {
                    println!(
                        "    and {} ClusterInterceptor(s), {} Interceptor(s)",
                        catalog.cluster_interceptors.len(),
                        catalog.interceptors.len()
                    );
                }
            }
        }
    }
    anyhow::ensure!(
        errors == 0,
        "{errors} error(s), {warnings} warning(s) found"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_of_a_trigger_both_referenced_and_standalone_is_reported_once_at_the_trigger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(
            &path,
            "apiVersion: triggers.tekton.dev/v1beta1\nkind: EventListener\nmetadata:\n  name: el\nspec:\n  triggers:\n  - triggerRef: t\n---\napiVersion: triggers.tekton.dev/v1beta1\nkind: Trigger\nmetadata:\n  name: t\nspec:\n  bindings:\n  - ref: missing\n  template:\n    ref: missing-too\n",
        )
        .unwrap();
        let (_, report) = check(std::slice::from_ref(&path), None);
        let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        let file = path.display();
        assert_eq!(
            lines,
            vec![
                format!(
                    "{file}:15:5: error: Trigger t: bindings[0]: TriggerBinding default/missing not found"
                ),
                format!(
                    "{file}:16:3: error: Trigger t: template: TriggerTemplate default/missing-too not found"
                ),
            ]
        );
    }

    const CANCELLING: &str = "apiVersion: triggers.tekton.dev/v1beta1\nkind: EventListener\nmetadata:\n  name: el\n  annotations:\n    eventlistener.dev/cancel-superseded: $(body.a)\nspec:\n  triggers:\n  - triggerRef: t\n---\napiVersion: triggers.tekton.dev/v1beta1\nkind: Trigger\nmetadata:\n  name: t\n  annotations:\n    eventlistener.dev/cancel-status: Stop\nspec:\n  bindings:\n  - name: x\n    value: $(body.x)\n  template:\n    spec:\n      params:\n      - name: x\n      resourcetemplates:\n      - apiVersion: v1\n        kind: ConfigMap\n        metadata:\n          generateName: x-\n";

    #[test]
    fn cancel_annotations_are_checked_on_triggers_and_warned_about_on_event_listeners() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, CANCELLING).unwrap();
        let (_, report) = check(std::slice::from_ref(&path), None);
        let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        let file = path.display();
        assert_eq!(
            lines,
            vec![
                format!(
                    "{file}:15:3: error: Trigger t: metadata.annotations \
                     eventlistener.dev/cancel-status: has no effect without \
                     eventlistener.dev/cancel-superseded"
                ),
                format!(
                    "{file}:5:3: warning: EventListener el: metadata.annotations \
                     eventlistener.dev/cancel-superseded: has no effect on an EventListener; \
                     annotate the Trigger objects (inline triggers cannot opt in: refer to a \
                     Trigger with triggerRef)"
                ),
            ],
            "{lines:#?}"
        );
    }

    #[test]
    fn unknown_fields_and_type_errors_carry_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.yaml");
        std::fs::write(
            &path,
            "apiVersion: triggers.tekton.dev/v1beta1\nkind: TriggerBinding\nmetadata:\n  name: b\nspec:\n  params:\n  - name: x\n    value: $(body.x)\n    vaule: y\n  parms: []\n",
        )
        .unwrap();
        let (catalog, report) = check(std::slice::from_ref(&path), None);
        assert_eq!(catalog.trigger_bindings.len(), 1, "still read");
        let unknown: Vec<(Option<u64>, Option<u64>, &str, &str)> = report
            .problems
            .iter()
            .filter(|p| p.message.starts_with("unknown field"))
            .map(|p| (p.line, p.column, p.field.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(
            unknown,
            vec![
                (
                    Some(9),
                    Some(5),
                    "spec.params[0].vaule",
                    "unknown field `vaule`, did you mean `value`?"
                ),
                (
                    Some(10),
                    Some(3),
                    "spec.parms",
                    "unknown field `parms`, did you mean `params`?"
                ),
            ]
        );
    }
}

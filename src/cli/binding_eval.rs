//! `eventlistener binding-eval -b FILE [-b FILE …] -r FILE`: resolve TriggerBinding params against
//! a raw HTTP request (upstream `cmd/binding-eval`, reference §9.2). Prints a JSON array of
//! `{"name", "value"}` sorted by name, 2-space indented.
//!
//! Differences from upstream: every document of every file is evaluated (upstream evaluates only
//! the last document of a file); values are the text that would end up in a created object (a
//! string from the payload is shown as is, not JSON-escaped); `$(context.eventID)` is a new
//! eventID (upstream: empty).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use super::tools::read_request;
use crate::api::TriggerBinding;
use crate::binding::{EventDocument, ParamTemplate};
use crate::event::Extensions;

/// Flags of `binding-eval`.
#[derive(Debug, Args)]
pub struct BindingEvalArgs {
    /// File of TriggerBinding (or ClusterTriggerBinding) documents; other kinds are skipped.
    /// Repeatable.
    #[arg(short = 'b', long = "binding", value_name = "FILE", required = true)]
    pub bindings: Vec<PathBuf>,
    /// Raw HTTP request file.
    #[arg(
        short = 'r',
        long = "http-request",
        alias = "http_request",
        value_name = "FILE"
    )]
    pub http_request: PathBuf,
}

#[derive(Serialize)]
struct Param {
    name: String,
    value: String,
}

/// Every `(name, value as written)` in the binding files, in order.
fn read_bindings(files: &[PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    let mut params = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let documents: Vec<serde_json::Value> =
            serde_saphyr::from_multiple_with_options(&text, crate::api::yaml_options())
                .with_context(|| format!("{}: not valid YAML", file.display()))?;
        for (index, document) in documents.into_iter().enumerate() {
            let kind = document.get("kind").and_then(serde_json::Value::as_str);
            if !matches!(kind, Some("TriggerBinding" | "ClusterTriggerBinding")) {
                continue;
            }
            let binding: TriggerBinding = serde_path_to_error::deserialize(document)
                .with_context(|| format!("{} (document {})", file.display(), index + 1))?;
            params.extend(binding.spec.params.into_iter().map(|p| (p.name, p.value)));
        }
    }
    Ok(params)
}

pub(super) fn run(args: &BindingEvalArgs) -> anyhow::Result<()> {
    let params = read_bindings(&args.bindings)?;
    let event = read_request(&args.http_request, true)?;
    let extensions = Extensions::new();
    let document = EventDocument {
        body: event.event().body(),
        header: event.event().headers(),
        extensions: &extensions,
        event_id: event.event().event_id(),
    };
    let mut out = Vec::with_capacity(params.len());
    for (name, value) in params {
        let template = ParamTemplate::parse(&value).with_context(|| format!("param {name}"))?;
        let value = template.render(&document, None).with_context(|| {
            format!("failed to replace JSONPath value for param {name}: {value}")
        })?;
        out.push(Param { name, value });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

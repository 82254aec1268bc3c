//! `eventlistener cel-eval -e FILE -r FILE`: evaluate one CEL expression against a raw HTTP
//! request, as the cel interceptor would (upstream `cmd/cel-eval`, reference §9.1). Prints the
//! result as JSON (upstream prints Go's `fmt` form); errors go to stderr with a non-zero exit.
//!
//! Unlike upstream, an empty body evaluates (as `{}`), and `compareSecret` reads the Secrets of
//! manifests given with `-f` (upstream compares with empty secrets).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::tools::read_request;
use crate::cel::{Program, Secrets, Vars};
use crate::event::Extensions;
use crate::event_listener::DEFAULT_NAMESPACE;
use crate::secrets::{ManifestSecrets, SecretStore};

/// Flags of `cel-eval`.
#[derive(Debug, Args)]
pub struct CelEvalArgs {
    /// File holding the CEL expression.
    #[arg(short = 'e', long = "expression", value_name = "FILE")]
    pub expression: PathBuf,
    /// Raw HTTP request file (request line, headers, blank line, body).
    #[arg(short = 'r', long = "http-request", value_name = "FILE")]
    pub http_request: PathBuf,
    /// Manifests holding Secrets, for `compareSecret`.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Namespace the Secrets are read in.
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
}

pub(super) fn run(args: &CelEvalArgs) -> anyhow::Result<()> {
    let expression = std::fs::read_to_string(&args.expression)
        .with_context(|| format!("cannot read {}", args.expression.display()))?;
    let program = Program::compile(expression.trim_end())?;
    let event = read_request(&args.http_request, true)?;
    let secrets = if args.files.is_empty() {
        None
    } else {
        let catalog = crate::manifest::load(&args.files)?;
        let mut store = ManifestSecrets::new();
        for s in &catalog.secrets {
            store.insert(
                crate::manifest::namespace_of(&s.object.metadata, &args.namespace),
                &s.object,
            )?;
        }
        let store: Arc<dyn SecretStore> = Arc::new(store);
        Some(Secrets::new(store, args.namespace.clone()))
    };
    let result = program.evaluate_display(&Vars {
        event: event.cel(),
        extensions: &Extensions::new(),
        secrets: secrets.as_ref(),
    })?;
    println!("{}", serde_json::to_string_pretty(&go_numbers(result))?);
    Ok(())
}

/// Whole doubles shown as integers, as Go prints a `float64` (`2`, not `2.0`).
fn go_numbers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() <= EXACT => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(go_numbers).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, go_numbers(v))).collect())
        }
        other => other,
    }
}

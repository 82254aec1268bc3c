//! `eventlistener triggerrun -t FILE [-t FILE …] -r FILE [--explain]`: run whole triggers
//! (interceptors, bindings, template) against a raw HTTP request and print the objects they would
//! create, creating nothing (upstream `cmd/triggerrun`, reference §9.3, which needs a cluster).
//!
//! The trigger files hold an EventListener or Triggers, and the bindings, templates and Secrets
//! they reference. Output: a JSON array of the objects, as they would be POSTed. With
//! `--explain`, each trigger's steps are printed first (to stderr): every interceptor's decision
//! and the extensions it added, and every param with its value and where it came from.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::tools::read_request;
use crate::event_listener::{Listener, LoadOptions};
use crate::interceptors::Decision;
use crate::resources::{CollectCreator, Creator};
use crate::trigger::{EventOutcome, Explanation, RunOptions, TriggerOutcome, run_event};

/// Flags of `triggerrun`.
#[derive(Debug, Args)]
pub struct TriggerRunArgs {
    /// Manifest file or directory: the Trigger (or EventListener) and what it references.
    /// Repeatable.
    #[arg(
        short = 't',
        long = "trigger-file",
        alias = "triggerFile",
        value_name = "PATH",
        required = true
    )]
    pub trigger_files: Vec<PathBuf>,
    /// Raw HTTP request file.
    #[arg(
        short = 'r',
        long = "http-request",
        alias = "httpPath",
        value_name = "FILE"
    )]
    pub http_request: PathBuf,
    /// Print each interceptor's decision and each param's source.
    #[arg(long)]
    pub explain: bool,
    /// EventListener to run when the files hold several.
    #[arg(long)]
    pub listener: Option<String>,
    /// Namespace of objects that name none.
    #[arg(long)]
    pub namespace: Option<String>,
    /// The GitHub REST API root for the github interceptor's `addChangedFiles` and
    /// `githubOwners`, as `serve --github-api-url`.
    #[arg(long, value_name = "URL", env = "EL_GITHUB_API_URL")]
    pub github_api_url: Option<String>,
}

pub(super) async fn run(args: &TriggerRunArgs) -> anyhow::Result<()> {
    let catalog = crate::manifest::load(&args.trigger_files)?;
    let options = LoadOptions {
        paths: args.trigger_files.clone(),
        listener: args.listener.clone(),
        namespace: args.namespace.clone(),
        require_trigger_service_account: false,
        github_api: super::serve::github_api(args.github_api_url.as_deref())?,
        interceptor_timeout: None,
    };
    let listener = if catalog.event_listeners.is_empty() {
        Listener::from_triggers(&catalog, &options)?
    } else {
        Listener::from_catalog(&catalog, &options)?
    };
    let event = read_request(&args.http_request, listener.payload_validation)?;
    let creator = Arc::new(CollectCreator::new());
    let options = RunOptions {
        concurrent: false,
        deadline: None,
        explain: args.explain,
        metrics: None,
    };
    let (EventOutcome::Finished(reports) | EventOutcome::TimedOut(reports)) = run_event(
        Arc::new(listener),
        Arc::new(event),
        Arc::clone(&creator) as Arc<dyn Creator>,
        options,
    )
    .await;
    let mut stderr = std::io::stderr().lock();
    for report in &reports {
        if args.explain {
            explain(
                &mut stderr,
                &report.trigger.name,
                &report.explanation,
                &report.outcome,
            )?;
        }
    }
    for report in &reports {
        if let TriggerOutcome::Failed { error, .. } = &report.outcome {
            anyhow::bail!("trigger {}: {error}", report.trigger.name);
        }
    }
    let objects = creator.take();
    println!("{}", serde_json::to_string_pretty(&objects)?);
    Ok(())
}

fn explain(
    out: &mut impl std::io::Write,
    trigger: &str,
    explanation: &Explanation,
    outcome: &TriggerOutcome,
) -> std::io::Result<()> {
    writeln!(out, "trigger {trigger}")?;
    for (name, decision) in &explanation.interceptors {
        match decision {
            Decision::Continue { extensions } if extensions.is_empty() => {
                writeln!(out, "  interceptor {name}: continue")?;
            }
            Decision::Continue { extensions } => writeln!(
                out,
                "  interceptor {name}: continue, extensions {}",
                serde_json::Value::Object(extensions.clone())
            )?,
            Decision::Replace { body, headers } => writeln!(
                out,
                "  interceptor {name}: continue, body ({} bytes) and headers ({}) replaced",
                body.len(),
                headers.len()
            )?,
            Decision::Stop { reason, message } => writeln!(
                out,
                "  interceptor {name}: stop ({}): {message}",
                reason.as_str()
            )?,
        }
    }
    for p in &explanation.params {
        match &p.value {
            Some(v) => writeln!(out, "  param {} = {v:?} from {}", p.name, p.source)?,
            None => writeln!(out, "  param {}: no value ({})", p.name, p.source)?,
        }
    }
    match outcome {
        TriggerOutcome::Created(created) => {
            for c in created {
                writeln!(
                    out,
                    "  would create {} {}/{}",
                    c.kind,
                    c.namespace,
                    if c.name.is_empty() {
                        "(generateName)"
                    } else {
                        &c.name
                    }
                )?;
            }
        }
        TriggerOutcome::Stopped { .. } => writeln!(out, "  creates nothing")?,
        TriggerOutcome::Failed { error, .. } => writeln!(out, "  failed: {error}")?,
    }
    out.flush()
}

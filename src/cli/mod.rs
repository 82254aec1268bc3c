//! The command line: one file per subcommand. The only place that prints, and (with `main`) the
//! only place that uses `anyhow`.

mod binding_eval;
mod catch_up;
mod cel_eval;
pub mod log_lines;
mod replay;
mod serve;
mod tools;
mod triggerrun;
mod validate;

use clap::{Parser, Subcommand};

/// eventlistener: a Tekton Triggers EventListener in Rust.
#[derive(Debug, Parser)]
#[command(name = "eventlistener", version, about)]
pub struct Cli {
    /// Log lines on standard error: `text` (one readable line each) or `json` (one JSON object
    /// each, the span's fields such as `event_id`, `delivery_id`, `event_type` and `trigger`
    /// included, for log collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "EL_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event (colours on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve an EventListener: from manifest files (`-f`, no cluster needed), or, without
    /// `-f`, read from the cluster and followed as it changes (`--listener NAME`).
    #[command(long_about = concat!(
        "Serve an EventListener over HTTP: every path but /live and /ready is an event.\n",
        "\n",
        "Two modes:\n",
        "  files    serve -f PATH... [--sink stdout|dir:PATH|null|kube]\n",
        "           The manifests (EventListener, Triggers, bindings, templates, Secrets) are\n",
        "           read once and checked as `validate` does; a broken one refuses the start.\n",
        "           No cluster needed.\n",
        "  cluster  serve --listener NAME [--namespace NS]   (no -f; --sink kube by default)\n",
        "           The EventListener and what it references are read from the Kubernetes API\n",
        "           and followed; a broken trigger is left out and reported, the others serve;\n",
        "           status and Events are written back. Needs an in-cluster service account or\n",
        "           a kubeconfig (KUBECONFIG, ~/.kube/config).",
    ))]
    Serve(Box<serve::ServeArgs>),
    /// Sign a webhook payload like GitHub does and POST it to a listener.
    Replay(replay::ReplayArgs),
    /// Evaluate a CEL expression against a raw HTTP request file.
    CelEval(cel_eval::CelEvalArgs),
    /// Resolve TriggerBinding params against a raw HTTP request file.
    BindingEval(binding_eval::BindingEvalArgs),
    /// Run triggers against a raw HTTP request file and print what they would create.
    Triggerrun(triggerrun::TriggerRunArgs),
    /// Check manifests: references, CEL, binding paths, templates. Exit 1 on any problem.
    Validate(validate::ValidateArgs),
    /// Redeliver what GitHub failed to deliver: one pass over each hook's delivery log.
    CatchUp(catch_up::CatchUpArgs),
}

/// Runs the parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; printed by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Replay(args) => replay::run(args).await,
        Command::CelEval(args) => cel_eval::run(&args),
        Command::BindingEval(args) => binding_eval::run(&args),
        Command::Triggerrun(args) => triggerrun::run(&args).await,
        Command::Validate(args) => validate::run(&args),
        Command::CatchUp(args) => catch_up::run(&args).await,
    }
}

//! The command line: one file per subcommand. The only place that prints, and (with `main`) the
//! only place that uses `anyhow`.

mod replay;
mod serve;

use clap::{Parser, Subcommand};

/// eventlistener: a Tekton Triggers EventListener in Rust.
#[derive(Debug, Parser)]
#[command(name = "eventlistener", version, about)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve an EventListener from manifest files.
    Serve(serve::ServeArgs),
    /// Sign a webhook payload like GitHub does and POST it to a listener.
    Replay(replay::ReplayArgs),
}

/// Runs the parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; printed by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Replay(args) => replay::run(args).await,
    }
}

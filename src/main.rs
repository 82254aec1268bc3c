//! The `eventlistener` binary: parse flags, set up logging, run the subcommand.

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

// glibc's malloc unless a feature picks another (BENCHMARKS.md, "Allocators").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = eventlistener::cli::Cli::parse();
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Lines are written by a thread of their own, in batches: one `write` and at most one
    // wake-up per batch rather than per line (`cli::log_lines`, BENCHMARKS.md). Not lossy: a
    // line waits for room rather than being dropped.
    let (writer, log_guard) = match eventlistener::cli::log_lines::start(std::io::stderr()) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("error: cannot start the log writer thread: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match cli.log_format {
        eventlistener::cli::LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // The event's fields at the top level, with the spans' (event_id, delivery_id,
        // event_type, trigger) beside them.
        eventlistener::cli::LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
    }
    let result = eventlistener::cli::run(cli).await;
    // Every queued line is written before the process exits or prints its error.
    drop(log_guard);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! Writes the benchmarks' generated configuration to a directory, for `benches/load.sh`
//! (`CONFIG=…`): an EventListener with N triggers, each the github interceptor and a cel filter
//! of its own, only the last matching the fixtures' repository (`benches/support`, the same
//! manifests the in-process benchmarks load).
//!
//! ```text
//! bench_config N DIR
//! ```

#[allow(dead_code)] // each bench binary uses part of it
#[path = "support/mod.rs"]
mod support;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_config N DIR";
    let n: usize = args.next().ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let dir = std::path::PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!(usage))?);
    std::fs::create_dir_all(&dir)?;
    support::write_manifests(n, &dir);
    println!("{}", dir.join("bench.yaml").display());
    Ok(())
}

//! The floor of one event's work, for `benches/load.sh` (BENCHMARKS.md, issue 14): on the same
//! payload the server is loaded with, the time of what no listener can skip, an HMAC-SHA256
//! check of the signature and one validating scan of the JSON (the functions the server itself
//! calls: `interceptors::signature::verify` and `event::check_body`), single-threaded. Not a
//! test: it times things and asserts only that the signature verifies.
//!
//! ```text
//! floor FILE SECRET [ROUNDS]
//! ```
//!
//! Signs FILE with SECRET, then runs ROUNDS (default 9) rounds, each as many iterations as fit
//! in ~0.2 s, and prints one JSON line: the median and the minimum µs per event over the rounds,
//! and the body size.

use std::time::{Duration, Instant};

use eventlistener::event::check_body;
use eventlistener::interceptors::signature::{sign_sha256, verify};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: floor FILE SECRET [ROUNDS]";
    let file = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let secret = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let rounds: usize = args.next().map_or(Ok(9), |r| r.parse())?;
    let body = std::fs::read(&file)?;
    let signature = sign_sha256(secret.as_bytes(), &body);
    let once = || -> anyhow::Result<()> {
        verify(secret.as_bytes(), std::hint::black_box(&body), &signature)?;
        check_body(std::hint::black_box(&body))?;
        Ok(())
    };
    // Calibrate: how many iterations take about 0.2 s.
    let started = Instant::now();
    let mut calibration = 0u64;
    while started.elapsed() < Duration::from_millis(50) {
        once()?;
        calibration += 1;
    }
    let per_round = (calibration * 4).max(1);
    let mut micros: Vec<f64> = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        for _ in 0..per_round {
            once()?;
        }
        micros.push(started.elapsed().as_secs_f64() * 1e6 / per_round as f64);
    }
    micros.sort_by(f64::total_cmp);
    println!(
        "{{\"file\":{:?},\"bytes\":{},\"floor_us_median\":{:.2},\"floor_us_min\":{:.2},\"rounds\":{}}}",
        file,
        body.len(),
        micros[micros.len() / 2],
        micros[0],
        micros.len()
    );
    Ok(())
}

#!/usr/bin/env bash
# Prints the path of the server binary the benchmark scripts measure (load.sh, cost.sh,
# instructions.sh, kube_creates.sh), building it first: the release binary as the image ships it,
# built with profile-guided optimisation by scripts/pgo/build.sh (skipped when up to date; two
# release builds otherwise). PGO=0: a plain `cargo build --release` instead, e.g. to measure what
# PGO gives (BENCHMARKS.md, "Stop 29"). Build output goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${PGO:-1} == 1 ]]; then
  scripts/pgo/build.sh >&2
  echo "$(realpath -m "${CARGO_TARGET_DIR:-target}/pgo/eventlistener")"
else
  cargo build --release --locked --bin eventlistener >&2
  echo "$(realpath -m "${CARGO_TARGET_DIR:-target}/release/eventlistener")"
fi

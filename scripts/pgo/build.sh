#!/usr/bin/env bash
# The release binary built with profile-guided optimisation (PGO): LLVM lays out and inlines the
# code by where a recorded run of webhook traffic went, so the code one event runs lies together
# and its branches go the common way. BENCHMARKS.md ("Stop 29") has why and what it saves: the
# listener's per-event path is larger than the CPU's instruction cache, and costs more in code
# fetched again and branches mispredicted than in instructions.
#
#   scripts/pgo/build.sh                                  # -> target/pgo/eventlistener
#   scripts/pgo/build.sh --target x86_64-unknown-linux-musl --out /eventlistener
#   scripts/pgo/build.sh --features jemalloc                  # cargo features, for both builds
#   scripts/pgo/build.sh -- --config profile.release.strip=true   # more arguments for the last build
#
# Three steps, each bounded:
#   1. an instrumented release build (`-Cprofile-generate`) of the same sources;
#   2. training: that binary serves config/ (--sink null, RUST_LOG=info, 127.0.0.1 only) while
#      the project's own `replay` sends every fixture under fixtures/github/ ROUNDS times (default
#      20) over new connections, signed; plus, per round, one delivery with a wrong signature,
#      one unsigned and one that is not JSON, so the paths that answer errors are in the profile
#      as the rare paths they are. Then the traffic a proxy in front of the listener makes, and
#      most of what it serves: `replay --count KEEPALIVE` (default 2000) of a pull request
#      opened (creating) and one closed unmerged (filtered), two clients at once, each over one
#      kept-alive connection. The server is then stopped with SIGTERM (its profile is
#      written when it exits) and the profile merged with rustup's llvm-profdata (component
#      llvm-tools, added when missing);
#   3. the release build again with `-Cprofile-use`.
# The same sources with a different profile build the same behaviour: the profile changes only
# where code is placed, what is inlined and which way branches are laid out.
#
# Needs: cargo, rustup (llvm-tools), bash. Two release builds: about twice `cargo build
# --release` (on this project's 2-core machines: 17 minutes alone, 32-38 with other builds
# running).
# Everything goes under ${CARGO_TARGET_DIR:-target}/pgo.
set -euo pipefail
cd "$(dirname "$0")/../.."

host=$(rustc -vV | sed -n 's/^host: //p')
target=$host
out=
features=
ROUNDS=${ROUNDS:-20}
KEEPALIVE=${KEEPALIVE:-2000}
PORT=${PORT:-18190}
while (($#)); do
  case $1 in
    --target) target=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --features) features=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "pgo: unknown argument $1" >&2; exit 2 ;;
  esac
done

dir=$(realpath -m "${CARGO_TARGET_DIR:-target}/pgo")
mkdir -p "$dir"
out=${out:-$dir/eventlistener}
# Up to date: nothing it is built or trained from is newer than the binary (REBUILD=1: build
# anyway). The benchmarks call this script before each run.
if [[ -z ${REBUILD:-} && -x $out && $# == 0 && -z $features \
  && -z $(find src Cargo.toml Cargo.lock config fixtures/github scripts/pgo -newer "$out" -print -quit) ]]; then
  echo "pgo: $out is up to date" >&2
  exit 0
fi
profdata=$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata
if [[ ! -x $profdata ]]; then
  rustup component add llvm-tools >&2
fi

# --- 1. instrumented build ---------------------------------------------------------------------
# --target even for the host: RUSTFLAGS then reach only the target's code, not build scripts and
# proc macros (which would write profiles of their own while building).
rm -rf "$dir/raw" "$dir/raw-clients"
RUSTFLAGS="-Cprofile-generate=$dir/raw" cargo build --release --locked --bin eventlistener \
  --features "$features" --target "$target" --target-dir "$dir/gen"
gen=$dir/gen/$target/release/eventlistener

# --- 2. training -------------------------------------------------------------------------------
secret=chespirito-dev-webhook-secret # config/'s Secret (config/secret.yaml)
server=
stop_server() {
  if [[ -n $server ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=; fi
}
trap stop_server EXIT
source scripts/pgo/ready.sh
LLVM_PROFILE_FILE="$dir/raw/server-%p-%m.profraw" RUST_LOG=info \
  "$gen" serve -f config/ --sink null --address "127.0.0.1:$PORT" --metrics-address 127.0.0.1:0 \
  2> "$dir/training-server.log" &
server=$!
for _ in $(seq 1 200); do
  ready && break
  kill -0 "$server" 2>/dev/null || { echo "pgo: the server exited; see $dir/training-server.log" >&2; exit 1; }
  sleep 0.05
done
ready || { echo "pgo: the server was not ready within 10 s" >&2; exit 1; }

printf '{"action": "opened", "number": ' > "$dir/not-json.json"
# The clients are the same instrumented binary; their profiles go elsewhere and are not used.
# Some of these deliveries are meant to be refused: only the kept-alive ones must succeed.
send() { # SECONDS ARGS...: one bounded `replay`
  local seconds=$1; shift
  LLVM_PROFILE_FILE="$dir/raw-clients/%p-%m.profraw" timeout "$seconds" "$gen" replay --url "http://127.0.0.1:$PORT/" "$@" > /dev/null
}
replay() { send 10 "$@" 2> /dev/null || true; }
sent=0
for _ in $(seq 1 "$ROUNDS"); do
  for fixture in fixtures/github/*.json; do
    WEBHOOK_SECRET=$secret replay "$fixture"
    sent=$((sent + 1))
  done
  WEBHOOK_SECRET=not-the-secret replay fixtures/github/pull_request.opened.json
  replay fixtures/github/pull_request.opened.json
  WEBHOOK_SECRET=$secret replay --event pull_request "$dir/not-json.json"
  sent=$((sent + 3))
done
# Every one of these is accepted (202), or the script stops: a profile without them would
# miss the path the listener spends its time on. 2,000 deliveries take a few seconds here.
WEBHOOK_SECRET=$secret send 300 --count "$KEEPALIVE" fixtures/github/pull_request.opened.json &
opened=$!
WEBHOOK_SECRET=$secret send 300 --count "$KEEPALIVE" fixtures/github/pull_request.closed.unmerged.json
wait "$opened"
sent=$((sent + 2 * KEEPALIVE))
stop_server
trap - EXIT
echo "pgo: trained on $sent deliveries" >&2
"$profdata" merge -o "$dir/eventlistener.profdata" "$dir"/raw/server-*.profraw

# --- 3. the optimised build --------------------------------------------------------------------
# The same targets and features as step 1 and nothing else: cargo's hash of a crate's features
# is part of its symbols' names, by which the profile finds them (building an example alongside
# would change the library's features, and so every name).
RUSTFLAGS="-Cprofile-use=$dir/eventlistener.profdata" cargo build --release --locked --bin eventlistener \
  --features "$features" --target "$target" --target-dir "$dir/use" "$@"
cp "$dir/use/$target/release/eventlistener" "$out"
echo "pgo: $out" >&2

#!/usr/bin/env bash
# Load test of the release server over HTTP on 127.0.0.1, with oha: start-to-ready time (STARTS
# starts, default 5), idle
# RSS, fixed rates (p50/p99/p99.9 latency, errors), saturation (events/s), the CPU time the
# server and oha spent per event (which the load of other processes does not inflate), and the
# server's RSS and peak RSS (VmHWM, from /proc) after each phase; then the same saturation
# against benches/http_floor.rs doing only the floor's work (TRANSPORT=0 leaves it out), so that
# each run shows what the transport and the floor cost on this machine. See BENCHMARKS.md.
#
#   benches/load.sh                      # default config (config/), --sink null
#   DURATION=30 RATES="1000 2000 4000" benches/load.sh
#   SERVER=/tmp/eventlistener-before benches/load.sh   # another build, same phases
#
# Bounded: every phase lasts DURATION seconds (default 10; at most rate x DURATION events for the
# fixed rates, CONNECTIONS requests in flight at saturation), each oha run is killed after
# DURATION + 30 s, and the server is stopped on exit. Traffic goes to 127.0.0.1 only.
# Installs what is missing: oha (`cargo install --locked oha`, ~5-20 min to build), jq (apt).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
RATES=${RATES:-"1000 4000"}
CONNECTIONS=${CONNECTIONS:-32}
STARTS=${STARTS:-5}
PORT=${PORT:-18080}
CONFIG=${CONFIG:-config/}
SINK=${SINK:-null}
FIXTURE=${FIXTURE:-fixtures/github/pull_request.opened.json}
EVENT=${EVENT:-pull_request}
SECRET=${SECRET:-chespirito-dev-webhook-secret}
OUT=${OUT:-target/load}
# NICE=-10 runs the server and oha ahead of other work on a shared machine (root only); the
# report says which was used.
NICE=${NICE:-0}
export RUST_LOG=${RUST_LOG:-info}

# --- tools -------------------------------------------------------------------------------------
OHA=$(command -v oha || true)
if [[ -z $OHA && -x $HOME/.cargo/bin/oha ]]; then OHA=$HOME/.cargo/bin/oha; fi
if [[ -z $OHA ]]; then
  echo "load: installing oha (cargo install --locked oha)" >&2
  cargo install --locked oha
  OHA=$HOME/.cargo/bin/oha
fi
if ! command -v jq >/dev/null; then
  echo "load: installing jq" >&2
  apt-get install -y jq >/dev/null || { apt-get update >/dev/null && apt-get install -y jq >/dev/null; }
fi
command -v openssl >/dev/null || { echo "load: openssl is needed to sign the payload" >&2; exit 1; }

# SERVER=path/to/eventlistener compares another build (e.g. before a change); default: the
# release binary as shipped, built with PGO (benches/server.sh; PGO=0: without).
SERVER=${SERVER:-$(benches/server.sh)}
mkdir -p "$OUT"
# The floor on this payload, measured now on this machine (benches/floor.rs): HMAC-SHA256 + one
# validating scan, single-threaded, the median of 9 rounds. Server CPU per event is reported as a
# ratio to it, which holds across machines where absolute figures do not.
cargo build --release --locked --example floor >&2
FLOOR_US=$(nice -n "$NICE" target/release/examples/floor "$FIXTURE" "$SECRET" | jq -r .floor_us_median)
SIG="sha256=$(openssl dgst -sha256 -hmac "$SECRET" -hex < "$FIXTURE" | sed 's/^.* //')"
URL="http://127.0.0.1:$PORT/"

# --- server ------------------------------------------------------------------------------------
PID=
stop_server() { if [[ -n $PID ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; fi; }
trap stop_server EXIT

# ready: GET /ready answers 200 (polled without forking a process per poll).
source scripts/pgo/ready.sh

# kB from /proc/PID/status, e.g. `proc_kb VmRSS`.
proc_kb() {
  local key value _
  while read -r key value _; do
    if [[ $key == "$1:" ]]; then echo "$value"; return; fi
  done < "/proc/$PID/status"
}
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
# CPU time the server has used, in clock ticks (utime + stime, fields 14 and 15 of /proc/PID/stat).
cpu_ticks() {
  local stat
  read -r stat < "/proc/$PID/stat"
  stat=${stat##*) }  # after the command name; the fields now start at field 3
  read -r -a f <<< "$stat"
  echo $(( f[11] + f[12] ))
}
TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))
# Time the server's threads spent runnable but waiting for a CPU, in µs (second field of
# /proc/PID/task/*/schedstat): how much the other processes on the machine delayed it.
wait_us() {
  local total=0 run wait _ f
  for f in /proc/"$PID"/task/*/schedstat; do
    read -r run wait _ < "$f" 2>/dev/null || continue
    total=$(( total + wait / 1000 ))
  done
  echo "$total"
}

# A file descriptor that never has data: `read -t` on it sleeps without forking a process.
exec {NAP_FD}<> <(:)
nap() { read -r -t "$1" -u "$NAP_FD" _ || true; }

# Start to ready, STARTS times (the last server stays up for the phases), polling every ms.
start_server() {
  local start=$EPOCHREALTIME
  nice -n "$NICE" "$SERVER" serve -f "$CONFIG" --sink "$SINK" --address "127.0.0.1:$PORT" --metrics-address 127.0.0.1:0 2>"$OUT/server.log" &
  PID=$!
  until ready; do
    nap 0.001
    if ! kill -0 "$PID" 2>/dev/null; then echo "load: the server exited; see $OUT/server.log" >&2; exit 1; fi
    if (( $(awk -v s="$start" -v n="$EPOCHREALTIME" 'BEGIN { print (n - s > 10) }') )); then
      echo "load: not ready after 10 s" >&2; exit 1
    fi
  done
  starts+=("$(awk -v s="$start" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.1f", (n - s) * 1000 }')")
}
starts=()
for ((i = 1; i < STARTS; i++)); do start_server; stop_server; done
start_server
ready_ms=$(printf '%s\n' "${starts[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "median %s ms (min %s, max %s; %d starts: ", v[int((NR + 1) / 2)], v[1], v[NR], NR }')
ready_ms+="$(IFS=' '; echo "${starts[*]}") ms)"
sleep 1
idle_rss=$(proc_kb VmRSS)

# --- phases ------------------------------------------------------------------------------------
oha_run() { # NAME ARGS...: one bounded oha run, JSON saved as $OUT/NAME.json, oha's own CPU
  # seconds (user + system) in $OUT/NAME.cpu
  local name=$1; shift
  local TIMEFORMAT='%U %S'
  { time timeout $((DURATION + 30)) nice -n "$NICE" "$OHA" --no-tui --output-format json -c "$CONNECTIONS" \
    -m POST -T application/json -H "X-GitHub-Event: $EVENT" \
    -H "X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958" -H "X-Hub-Signature-256: $SIG" \
    -D "$FIXTURE" "$@" "$URL" > "$OUT/$name.json"; } 2> "$OUT/$name.cpu"
}

rows=()
phase() { # NAME ARGS...
  local name=$1; shift
  local before after waited
  before=$(cpu_ticks); waited=$(wait_us)
  oha_run "$name" "$@"
  after=$(cpu_ticks); waited=$(( $(wait_us) - waited ))
  local rss hwm
  rss=$(proc_kb VmRSS); hwm=$(proc_kb VmHWM)
  rows+=("$(jq -r --arg name "$name" --arg rss "$(mb "$rss")" --arg hwm "$(mb "$hwm")" \
    --argjson server_us $(( (after - before) * TICK_US )) \
    --argjson waited_us "$waited" \
    --argjson floor_us "$FLOOR_US" \
    --arg client "$(tail -n 1 "$OUT/$name.cpu")" '
    def ms: if . == null then "-" else (. * 1000 * 100 | round / 100 | tostring) end;
    (.statusCodeDistribution["202"] // 0) as $ok
    | ([.statusCodeDistribution | to_entries[] | select(.key != "202") | .value] | add // 0) as $bad
    | ([.errorDistribution | to_entries[] | .value] | add // 0) as $err
    | ($client | split(" ") | map(tonumber) | add * 1000000) as $client_us
    | ([.statusCodeDistribution[]] | add // 1) as $all
    | "| \($name) | \($ok / .summary.total | round) | \(.latencyPercentiles.p50 | ms) | \(.latencyPercentiles.p99 | ms) | \(.latencyPercentiles["p99.9"] | ms) | \($ok) | \($bad + $err) | \($server_us / $all | round) | \($server_us / $all / $floor_us * 100 | round / 100) | \($waited_us / $all | round) | \($client_us / $all | round) | \($rss) | \($hwm) |"
    ' "$OUT/$name.json")")
}

oha_run warmup -n 500 > /dev/null
for rate in $RATES; do
  phase "rate-$rate" -z "${DURATION}s" -q "$rate" --latency-correction -w
done
phase saturation -z "${DURATION}s" -w

# The same saturation against the transport floor with the floor's work (benches/http_floor.rs
# with HTTP_FLOOR_SECRET: the same HTTP stack, each event's signature checked and body scanned,
# nothing else): what any listener pays over this loopback on this machine, in the same run.
# The listener's server CPU minus this row's is what the listener's own work costs. TRANSPORT=0
# leaves it out.
if [[ ${TRANSPORT:-1} == 1 ]]; then
  cargo build --release --locked --example http_floor >&2
  stop_server
  LISTENER=$SERVER
  SERVER=target/release/examples/http_floor
  export HTTP_FLOOR_SECRET=$SECRET
  start_server
  oha_run warmup-http-floor -n 500 > /dev/null
  phase http_floor-saturation -z "${DURATION}s" -w
  SERVER=$LISTENER
fi

# --- report ------------------------------------------------------------------------------------
{
  echo "load test $(date -u +%Y-%m-%dT%H:%MZ): $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "server: $SERVER serve -f $CONFIG --sink $SINK (RUST_LOG=$RUST_LOG, log in $OUT/server.log), nice $NICE for the server and oha"
  echo "payload: $FIXTURE ($(wc -c < "$FIXTURE") bytes, X-GitHub-Event: $EVENT), $CONNECTIONS connections, ${DURATION} s per phase, oha $("$OHA" --version | cut -d' ' -f2)"
  echo
  echo "start to ready: $ready_ms; idle RSS: $(mb "$idle_rss") MB; floor (HMAC-SHA256 + one validating scan of this payload, one core): $FLOOR_US µs"

  echo
  echo "| phase | events/s (202) | p50 ms | p99 ms | p99.9 ms | 202s | errors | server CPU µs/event | ÷ floor | server waiting for a CPU µs/event | oha CPU µs/event | RSS after MB | peak RSS so far MB |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  if [[ ${TRANSPORT:-1} == 1 ]]; then
    echo
    echo "http_floor-saturation: benches/http_floor.rs with the floor's work (HMAC-SHA256 + one validating scan per event) on the same HTTP stack, same payload and connections: the transport and the floor together, which no listener over this loopback can go below."
  fi
} | tee "$OUT/summary.md"

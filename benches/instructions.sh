#!/usr/bin/env bash
# Instructions per event, counted by valgrind's callgrind: a figure that does not move with the
# machine's load, its clock or its neighbours, for comparing two builds on a shared machine where
# CPU time per event varies by ±20 % from run to run (BENCHMARKS.md, "Stop 25"). Not a
# replacement for benches/cost.sh: instructions are not time (cache misses and SIMD differ), and
# under valgrind HMAC-SHA256 runs sha2's portable code, not the SHA extensions, so its share is
# far larger than on the CPU itself. Compare the "listener" column between builds.
#
#   benches/instructions.sh                                   # this checkout as shipped (PGO)
#   PGO=0 benches/instructions.sh                             # the same without PGO
#   SERVER=/tmp/eventlistener-before benches/instructions.sh  # another build
#   CONFIG=… FIXTURE=… EVENT=… N=… benches/instructions.sh
#
# The server (`serve --sink null`, RUST_LOG=warn, 127.0.0.1) runs under callgrind twice: once
# started and stopped (start-up), once answering N signed events from oha with 4 connections.
# Per event = (second - first) / N, split by function: HMAC-SHA256 (`sha2::`), the validating
# scan (serde_json's skipping functions and the body-locating pass), and the rest ("listener":
# HTTP, interceptors, bindings, templates, metrics, allocation). Also malloc calls per event.
# Needs valgrind (installed with apt when missing) and oha (as benches/load.sh).
#
# CACHE=1 also simulates the caches and the branch predictor (callgrind's --cache-sim and
# --branch-sim, with the caches of the CPU it runs on) and adds a table of what, besides
# instructions, an event costs: first-level instruction-cache misses (code fetched again per
# event), data-cache misses and mispredicted branches, split as above (BENCHMARKS.md, "Stop
# 28"). Counts from a model, not the CPU's counters; compare them between builds.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${CACHE:-0}
SIM=()
[[ $CACHE == 1 ]] && SIM=(--cache-sim=yes --branch-sim=yes)
CONFIG=${CONFIG:-config/}
FIXTURE=${FIXTURE:-fixtures/github/pull_request.opened.json}
EVENT=${EVENT:-pull_request}
N=${N:-1000}
SECRET=${SECRET:-chespirito-dev-webhook-secret}
PORT=${PORT:-18091}
OUT=${OUT:-target/instructions}
mkdir -p "$OUT"
command -v valgrind >/dev/null || { apt-get install -y valgrind >/dev/null || { apt-get update >/dev/null && apt-get install -y valgrind >/dev/null; }; }
OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
[[ -x $OHA ]] || cargo install --locked oha
SERVER=${SERVER:-$(benches/server.sh)}
SIG="sha256=$(openssl dgst -sha256 -hmac "$SECRET" -hex < "$FIXTURE" | sed 's/^.* //')"

run() { # EVENTS NAME: the server under callgrind answering EVENTS events; profile at $OUT/NAME.cg
  local events=$1 name=$2 pid i
  RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$OUT/$name.cg" --dump-instr=no "${SIM[@]}" \
    "$SERVER" serve -f "$CONFIG" --sink null --address "127.0.0.1:$PORT" \
    --metrics-address 127.0.0.1:0 2>"$OUT/$name.log" &
  pid=$!
  # Start-up under valgrind takes seconds (minutes with 1,000 triggers): poll /ready, bounded.
  for ((i = 0; i < 6000; i++)); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/ready" && break
    kill -0 "$pid" 2>/dev/null || { echo "instructions: the server exited; see $OUT/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  if (( events > 0 )); then
    "$OHA" -n "$events" -c 4 --no-tui -m POST -H "X-GitHub-Event: $EVENT" \
      -H "X-Hub-Signature-256: $SIG" -H "Content-Type: application/json" -D "$FIXTURE" \
      "http://127.0.0.1:$PORT/" > "$OUT/$name.oha"
    grep -q 'Success rate:.*100.00%' "$OUT/$name.oha" || { echo "instructions: not every event answered; see $OUT/$name.oha" >&2; exit 1; }
  fi
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
}
run 0 start
run "$N" events

python3 - "$OUT/start.cg" "$OUT/events.cg" "$N" "$SERVER" "$FIXTURE" "$CACHE" <<'PY'
import re, subprocess, sys

SCAN = r'skip_to_escape|ignore_value|ignore_str|has_next_key|paths::Locate|ignore_integer|ignore_decimal|ignore_exponent'


def category(fn):
    if 'sha2::' in fn:
        return 'sha'
    if re.search(SCAN, fn):
        return 'scan'
    return 'listener'

def split(path):
    """Exclusive instructions by category, and malloc calls, from callgrind_annotate."""
    text = subprocess.run(['callgrind_annotate', '--tree=caller', '--inclusive=no', '--threshold=100', path],
                          capture_output=True, text=True, check=True).stdout
    cats = {'sha': 0, 'scan': 0, 'listener': 0}
    mallocs = 0
    for block in text.split('\n\n'):
        lines = block.strip().split('\n')
        own = [l for l in lines if '*  ' in l]
        if not own:
            continue
        m = re.match(r'\s*([\d,]+) ', own[0])
        ir = int(m.group(1).replace(',', ''))
        fn = own[0]
        cats[category(fn)] += ir
        if 'malloc.c:malloc [' in fn:
            for l in lines:
                c = re.search(r'<.*\(([\d,]+)x\)', l)
                if c:
                    mallocs += int(c.group(1).replace(',', ''))
    return cats, mallocs

start, start_mallocs = split(sys.argv[1])
events, event_mallocs = split(sys.argv[2])
n = int(sys.argv[3])
per = {k: (events[k] - start[k]) / n for k in events}
total = sum(per.values())
print(f"instructions per event (callgrind): {sys.argv[4]}, {sys.argv[5]}, {n} events")
print()
print("| total | HMAC-SHA256 (portable code) | validating scan | listener | malloc calls |")
print("|---:|---:|---:|---:|---:|")
print(f"| {total:,.0f} | {per['sha']:,.0f} | {per['scan']:,.0f} | **{per['listener']:,.0f}** | {(event_mallocs - start_mallocs) / n:.1f} |")

if sys.argv[6] != '1':
    sys.exit(0)

EVENTS = ['Ir', 'I1mr', 'D1mr', 'D1mw', 'Bcm', 'Bim']


def simulated(path):
    """Exclusive counts of EVENTS by category, from callgrind_annotate's flat listing."""
    text = subprocess.run(['callgrind_annotate', '--inclusive=no', '--threshold=100', '--show=' + ','.join(EVENTS), path],
                          capture_output=True, text=True, check=True).stdout
    cats = {c: [0] * len(EVENTS) for c in ('sha', 'scan', 'listener')}
    for line in text.split('\n'):
        fields = re.sub(r'\([^)]*%\)', '', line).split()
        if len(fields) <= len(EVENTS) or 'PROGRAM TOTALS' in line:
            continue
        try:
            counts = [0 if f == '.' else int(f.replace(',', '')) for f in fields[:len(EVENTS)]]
        except ValueError:
            continue
        row = cats[category(' '.join(fields[len(EVENTS):]))]
        for i, c in enumerate(counts):
            row[i] += c
    return cats


s, e = simulated(sys.argv[1]), simulated(sys.argv[2])
print()
print("simulated per event (callgrind --cache-sim --branch-sim); cycles estimated as Ir / 3 + 13 per")
print("first-level miss + 17 per mispredicted branch, a rough model for comparing builds:")
print()
print("| part | instructions | I1 misses | D1 misses | mispredicted branches | model cycles |")
print("|---|---:|---:|---:|---:|---:|")
sums = [0.0] * len(EVENTS)
for name, cat in (('HMAC-SHA256', 'sha'), ('validating scan', 'scan'), ('listener', 'listener')):
    d = [(e[cat][i] - s[cat][i]) / n for i in range(len(EVENTS))]
    sums = [a + b for a, b in zip(sums, d)]
    cycles = d[0] / 3 + 13 * (d[1] + d[2] + d[3]) + 17 * (d[4] + d[5])
    print(f"| {name} | {d[0]:,.0f} | {d[1]:,.0f} | {d[2] + d[3]:,.0f} | {d[4] + d[5]:,.0f} | {cycles:,.0f} |")
cycles = sums[0] / 3 + 13 * (sums[1] + sums[2] + sums[3]) + 17 * (sums[4] + sums[5])
print(f"| total | {sums[0]:,.0f} | {sums[1]:,.0f} | {sums[2] + sums[3]:,.0f} | {sums[4] + sums[5]:,.0f} | {cycles:,.0f} |")
PY

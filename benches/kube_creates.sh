#!/usr/bin/env bash
# PipelineRuns created per second through the listener against a real kube-apiserver, next to a
# bare kube client issuing the same creates (the ceiling), and the reload latency in cluster mode.
# See BENCHMARKS.md, "Kubernetes: creates per second and reload latency (issue 12)".
#
#   benches/kube_creates.sh                                  # 3 pairs of 10 s runs, 16 in flight, 20+20 edits
#   CONCURRENCY="4 16" REPS=2 SECONDS_PER_RUN=15 benches/kube_creates.sh
#   SMOKE=1 benches/kube_creates.sh                          # each step once, briefly: 1 s runs, 2 edits
#   REPS=0 benches/kube_creates.sh                           # the reload latency only
#
# It starts kube-apiserver 1.20.2 + etcd on loopback (scripts/kube-test/start-apiserver.sh; build
# once with scripts/kube-test/build-kube-apiserver.sh), applies tests/kube/crds.yaml and config/
# into a namespace, and runs the release listener in cluster mode with the kube sink:
#   eventlistener serve --listener chespirito-github-el --namespace NS --sink kube
# The driver is the example benches/kube_creates.rs (its header says what each mode does):
#   listener: signed GitHub pull_request deliveries, a new X-GitHub-Delivery per request
#             (idempotency on, the default), CONCURRENCY in flight, one PipelineRun each;
#   direct:   the same PipelineRun (one the listener created, read back, server fields removed)
#             created with kube::Api::create, CONCURRENCY in flight, a new name per create;
#   reload:   EDITS patches of the TriggerBinding, then of the EventListener, each followed by
#             events until a created PipelineRun carries the new value.
# Listener and direct runs alternate; each run's objects are counted in the API afterwards.
# Everything stays on 127.0.0.1; the API server and the listener are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=${SMOKE:-0}
if [[ $SMOKE == 1 ]]; then
  REPS=${REPS:-1} SECONDS_PER_RUN=${SECONDS_PER_RUN:-1} EDITS=${EDITS:-2} CONCURRENCY=${CONCURRENCY:-4}
fi
REPS=${REPS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONCURRENCY=${CONCURRENCY:-16}
EDITS=${EDITS:-20}
PORT=${PORT:-18090}
SECRET=chespirito-dev-webhook-secret
FIXTURE=fixtures/github/pull_request.opened.json
OUT=${OUT:-target/kube-creates}
NICE=${NICE:-0}
export RUST_LOG=${RUST_LOG:-info}

# Built one at a time: together, the example's dev-dependency features would rebuild the server.
SERVER=${SERVER:-$(benches/server.sh)}
if [[ -z ${DRIVER:-} ]]; then
  cargo build --release --locked --example kube_creates >&2
  DRIVER=target/release/examples/kube_creates
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# --- API server ------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/kube-creates.XXXXXX)
LISTENER_PID=
cleanup() {
  if [[ -n $LISTENER_PID ]]; then kill "$LISTENER_PID" 2>/dev/null || true; wait "$LISTENER_PID" 2>/dev/null || true; fi
  scripts/kube-test/stop-apiserver.sh "$WORK/kas" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
KUBECONFIG=$(KUBE_TEST_OWNER_PID=$$ scripts/kube-test/start-apiserver.sh "$WORK/kas")
export KUBECONFIG
k() { kubectl --request-timeout=30s "$@"; }
# Polls a command for at most 60 s.
settle() {
  local deadline=$((SECONDS + 60))
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < deadline )) || { echo "kube-creates: not true after 60 s: $*" >&2; exit 1; }
    sleep 0.2
  done
}
settle k apply -f tests/kube/crds.yaml
k wait --for=condition=Established --timeout=60s -f tests/kube/crds.yaml >/dev/null
settle k get pipelineruns.tekton.dev,eventlisteners.triggers.tekton.dev

NS=listener
DIRECT_NS=direct
k create namespace "$NS" >/dev/null
k create namespace "$DIRECT_NS" >/dev/null
k apply -n "$NS" -f config/ >/dev/null
# Two more TriggerBindings for the EventListener edits of the reload measurement.
for which in a b; do
  k apply -n "$NS" -f - >/dev/null <<YAML
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerBinding
metadata: {name: bench-binding-$which}
spec:
  params:
    - {name: revision, value: via-$which}
    - {name: repo-url, value: \$(body.repository.clone_url)}
YAML
done

# --- listener ----------------------------------------------------------------------------------
nice -n "$NICE" "$SERVER" serve --listener chespirito-github-el --namespace "$NS" --sink kube --metrics-address 127.0.0.1:0 \
  --address "127.0.0.1:$PORT" 2>"$OUT/listener.log" &
LISTENER_PID=$!
ready() { curl -sf --max-time 1 "http://127.0.0.1:$PORT/ready" >/dev/null; }
settle ready
URL="http://127.0.0.1:$PORT/"

# Objects in a namespace, from a list of one item (listing tens of thousands takes kubectl ~20 s).
count() {
  k get --raw "/apis/tekton.dev/v1/namespaces/$1/pipelineruns?limit=1" \
    | jq '(.items | length) + (.metadata.remainingItemCount // 0)'
}
load() { cut -d' ' -f1-3 /proc/loadavg; }
results="$OUT/results.jsonl"
: >"$results"

# CPU seconds a process has used so far (utime + stime from /proc/PID/stat).
cpu_s() {
  local stat
  read -r stat <"/proc/$1/stat"
  stat=${stat##*) }
  read -r -a f <<<"$stat"
  awk -v t=$((f[11] + f[12])) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}
KAS_PID=$(cat "$WORK/kas/kube-apiserver.pid")
ETCD_PID=$(cat "$WORK/kas/etcd.pid")
cpus() { echo "$(cpu_s "$KAS_PID") $(cpu_s "$ETCD_PID") $(cpu_s "$LISTENER_PID")"; }

# One run: MODE CONCURRENCY SECONDS; appends the driver's line with the load, the objects counted
# in the API, and the CPU seconds of kube-apiserver, etcd, the listener and the driver.
run() {
  local mode=$1 c=$2 s=$3 ns before after load_before cpu_before cpu_after
  if [[ $mode == listener ]]; then ns=$NS; else ns=$DIRECT_NS; fi
  before=$(count "$ns")
  load_before=$(load)
  cpu_before=$(cpus)
  local TIMEFORMAT='%U %S'
  if [[ $mode == listener ]]; then
    { time nice -n "$NICE" "$DRIVER" listener "$URL" "$FIXTURE" "$SECRET" "$c" "$s" >"$OUT/line"; } 2>"$OUT/driver-cpu"
  else
    { time nice -n "$NICE" "$DRIVER" direct "$OUT/object.json" "$c" "$s" >"$OUT/line"; } 2>"$OUT/driver-cpu"
  fi
  cpu_after=$(cpus)
  after=$(count "$ns")
  jq -c --arg lb "$load_before" --arg la "$(load)" --argjson objects $((after - before)) \
    --arg before "$cpu_before" --arg after "$cpu_after" --arg driver "$(tail -n 1 "$OUT/driver-cpu")" '
    def r2: . * 100 | round / 100;
    ($before | split(" ") | map(tonumber)) as $b | ($after | split(" ") | map(tonumber)) as $a
    | . + {load_before: $lb, load_after: $la, objects_in_api: $objects,
           cpu_s: {apiserver: ($a[0] - $b[0] | r2), etcd: ($a[1] - $b[1] | r2),
                   listener: ($a[2] - $b[2] | r2),
                   driver: ($driver | split(" ") | map(tonumber) | add | r2)}}' "$OUT/line" \
    | tee -a "$results"
}

# The object of the direct runs: one the listener created, as it stored it, server fields removed.
"$DRIVER" listener "$URL" "$FIXTURE" "$SECRET" 1 0.2 >/dev/null
name=$(k get pipelineruns.tekton.dev -n "$NS" -o name | sed -n 1p)
k get -n "$NS" "$name" -o json | jq --arg ns "$DIRECT_NS" '
  del(.status) | .metadata |= (del(.uid, .resourceVersion, .creationTimestamp, .managedFields,
    .generation, .selfLink) | .namespace = $ns)' >"$OUT/object.json"

echo "kube-creates $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores, load $(load), $SERVER, nice $NICE" >&2
# Warm-up (not recorded): connections, discovery, the API server's caches.
"$DRIVER" listener "$URL" "$FIXTURE" "$SECRET" 4 1 >/dev/null
"$DRIVER" direct "$OUT/object.json" 4 1 >/dev/null
for c in $CONCURRENCY; do
  for ((rep = 1; rep <= REPS; rep++)); do
    run listener "$c" "$SECONDS_PER_RUN"
    run direct "$c" "$SECONDS_PER_RUN"
  done
done

for what in binding listener; do
  nice -n "$NICE" "$DRIVER" reload "$URL" "$FIXTURE" "$SECRET" "$NS" "$EDITS" "$what" >"$OUT/line"
  # Per edit, the listener's first "configuration loaded from the cluster" line after the patch
  # was sent: milliseconds from the patch's answer (negative: the watch came first).
  python3 - "$OUT/line" "$OUT/listener.log" <<'PY' | jq -c --arg l "$(load)" '. + {load_after: $l}' | tee -a "$results"
import datetime, json, math, sys
line = json.load(open(sys.argv[1]))
loads = []
for text in open(sys.argv[2]):
    if "configuration loaded from the cluster" in text:
        stamp = datetime.datetime.fromisoformat(text.split()[0].replace("Z", "+00:00"))
        loads.append(round(stamp.timestamp() * 1e6))
deltas = []
for sent, answered in line["patched_us"]:
    after = [t for t in loads if t >= sent]
    deltas.append(round((after[0] - answered) / 1000, 2) if after else None)
ok = sorted(d for d in deltas if d is not None)
pct = lambda p: ok[min(len(ok), max(1, math.ceil(len(ok) * p))) - 1] if ok else None
line["loaded_after_patch_ms"] = deltas
line["loaded_p50_ms"], line["loaded_p99_ms"] = pct(0.5), pct(0.99)
del line["patched_us"]
print(json.dumps(line))
PY
done
grep -c 'configuration loaded from the cluster' "$OUT/listener.log" \
  | xargs echo "kube-creates: configurations loaded by the listener:" >&2

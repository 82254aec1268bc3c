#!/usr/bin/env bash
# Server CPU per event as a ratio to the floor, over a matrix (issue 14; BENCHMARKS.md, "Cost per
# event"): configurations config/ and the generated 1,000-trigger one (benches/bench_config.rs),
# times payloads of three sizes, times a creating and a filtered event. Each cell is one
# benches/load.sh run (saturation only unless RATES is set), whose floor is measured in the same
# run on the same payload, and so is the transport floor with the floor's work (load.sh's
# http_floor row: the same HTTP stack checking the signature and scanning the body, nothing
# else); the listener's own cost is the difference. The cells' rows are gathered into one table.
#
#   benches/cost.sh                       # DURATION=5 s per cell, 12 cells, ~3 min
#   SERVER=/tmp/eventlistener-before benches/cost.sh   # another build, same matrix
#   PGO=0 benches/cost.sh                              # this checkout without PGO (benches/server.sh)
#   CONFIGS=config/ SIZES=25k benches/cost.sh          # a subset
#
# Payloads: small = GitHub's `ping` example (7 KB; filtered by every trigger: no ping trigger)
# and a `pull_request` `opened` cut down to the fields the configurations read plus `sender` and
# the repository owner (2.3 KB, creating); 25k = the real 25 KB `pull_request` `opened` (creating)
# and `closed` unmerged (filtered); 1m = those two with a 1 MiB `pull_request.body` (load.sh signs
# each payload). Everything else as load.sh (127.0.0.1, bounded runs). Cells write their server
# logs under OUT (RUST_LOG=info: tens of MB per cell).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
CONFIGS=${CONFIGS:-"config/ 1000"}
SIZES=${SIZES:-"small 25k 1m"}
OUT=${OUT:-target/cost}
mkdir -p "$OUT"
command -v jq >/dev/null || { apt-get install -y jq >/dev/null || { apt-get update >/dev/null && apt-get install -y jq >/dev/null; }; }
SERVER=${SERVER:-$(benches/server.sh)}
cargo build --release --locked --example bench_config >&2

# --- payloads ----------------------------------------------------------------------------------
payload() { # SIZE KIND -> path
  local size=$1 kind=$2 src
  if [[ $kind == creating ]]; then src=fixtures/github/pull_request.opened.json; else src=fixtures/github/pull_request.closed.unmerged.json; fi
  case $size in
    small)
      if [[ $kind == filtered ]]; then echo fixtures/github/ping.json; return; fi
      jq -c '{action, number, pull_request: {head: {sha: .pull_request.head.sha, ref: .pull_request.head.ref}, base: {ref: .pull_request.base.ref}, title: .pull_request.title, merged: .pull_request.merged, html_url: .pull_request.html_url, user: {login: .pull_request.user.login}}, repository: (.repository | {full_name, clone_url, name, owner}), sender: .sender}' \
        "$src" > "$OUT/small-$kind.json"
      ;;
    25k) echo "$src"; return ;;
    1m) jq -c '.pull_request.body = ("x" * 1048576)' "$src" > "$OUT/1m-$kind.json" ;;
  esac
  echo "$OUT/$size-$kind.json"
}

rows=()
for config in $CONFIGS; do
  if [[ $config == 1000 ]]; then
    dir="$OUT/config-1000"
    [[ -f $dir/bench.yaml ]] || target/release/examples/bench_config 1000 "$dir" >/dev/null
    config_dir=$dir
  else
    config_dir=$config
  fi
  for size in $SIZES; do
    for kind in creating filtered; do
      file=$(payload "$size" "$kind")
      event=pull_request; [[ $file == *ping* ]] && event=ping
      cell="$OUT/${config//\//}-$size-$kind"
      SERVER=$SERVER CONFIG=$config_dir FIXTURE=$file EVENT=$event DURATION=$DURATION \
        RATES=${RATES:-} STARTS=1 OUT=$cell benches/load.sh > /dev/null
      floor=$(sed -n 's/.*one core): \([0-9.]*\) µs.*/\1/p' "$cell/summary.md")
      sat=$(grep '^| saturation ' "$cell/summary.md")
      # | phase | events/s | p50 | p99 | p99.9 | 202s | errors | server µs | ÷ floor | wait | oha | rss | hwm |
      IFS='|' read -r _ _ rate _ _ _ ok errors server ratio _ _ _ hwm _ <<< "$sat"
      # The same payload against benches/http_floor.rs with the floor's work, in the same cell.
      ref=$(grep '^| http_floor-saturation ' "$cell/summary.md")
      IFS='|' read -r _ _ _ _ _ _ _ _ ref_server ref_ratio _ <<< "$ref"
      ours=$(( ${server// /} - ${ref_server// /} ))
      rows+=("| $config | $size ($(wc -c < "$file") B) | $kind | $floor | ${server// /} | **${ratio// /}** | ${ref_server// /} (${ref_ratio// /}×) | $ours | ${rate// /} | ${ok// /} | ${errors// /} | ${hwm// /} |")
    done
  done
done

{
  echo "cost per event $(date -u +%Y-%m-%dT%H:%MZ): $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "server: $SERVER, --sink null, saturation for $DURATION s per cell (load.sh); floor = HMAC-SHA256 + one validating scan of the same payload, one core"
  echo
  echo "| config | payload | event | floor µs | server CPU µs/event | ÷ floor | transport + floor µs (÷ floor) | the listener's own µs | events/s | 202s | other | peak RSS MB |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
} | tee "$OUT/summary.md"

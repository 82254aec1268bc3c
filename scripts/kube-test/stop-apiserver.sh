#!/usr/bin/env bash
# Stops what start-apiserver.sh WORKDIR started: kube-apiserver first (it does not exit on SIGTERM once
# etcd is gone), then etcd; SIGTERM, then SIGKILL after 10 s. Then its watchdog, unless we are run by it.
# Only PIDs whose command line names WORKDIR are signalled, so a reused PID is never hit.
# Usage: stop-apiserver.sh WORKDIR   (KUBE_TEST_KEEP_WATCHDOG=1: leave the watchdog, to launch again)
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: stop-apiserver.sh WORKDIR" >&2; exit 2; }
W=$(cd "$1" 2>/dev/null && pwd) || { echo "stop-apiserver: no directory $1" >&2; exit 0; }

ours() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$W"; }

for name in kube-apiserver etcd watchdog; do
  if [ "$name" = watchdog ] && [ "${KUBE_TEST_KEEP_WATCHDOG:-0}" = 1 ]; then continue; fi
  pid=$(cat "$W/$name.pid" 2>/dev/null) || continue
  rm -f "$W/$name.pid"
  [ "$name" = watchdog ] && [ "$pid" = "$PPID" ] && continue
  ours "$pid" || continue
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 100); do ours "$pid" || break; sleep 0.1; done
  ours "$pid" && kill -9 "$pid" 2>/dev/null
done
exit 0

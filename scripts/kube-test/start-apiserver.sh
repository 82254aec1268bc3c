#!/usr/bin/env bash
# Starts a throwaway kube-apiserver (built by build-kube-apiserver.sh) plus etcd on free loopback ports,
# with a fresh CA, serving certificate, service-account key and static admin token, RBAC authorization.
#
# Usage: start-apiserver.sh WORKDIR      (WORKDIR must not exist, or be empty)
# Writes WORKDIR/kubeconfig (admin, CA-verified), WORKDIR/url, WORKDIR/token, WORKDIR/pki/ca.crt,
# the logs etcd.log and kube-apiserver.log, and prints the kubeconfig path once /readyz answers ok.
# Stop with stop-apiserver.sh WORKDIR (apiserver first, then etcd).
#
# A watchdog stops both (and, with KUBE_TEST_REMOVE_WORKDIR=1, deletes WORKDIR) as soon as the
# owner process is gone, so nothing outlives a test process even when it is killed. All three run in
# their own sessions, so a signal to the caller's process group reaches only the watchdog's owner.
#
# Environment:
#   KUBE_APISERVER          the binary (default: the cache of build-kube-apiserver.sh)
#   KUBE_TEST_OWNER_PID     the process whose exit stops the server (default: the caller, $PPID; 0: none)
#   KUBE_TEST_READY_TIMEOUT seconds to wait for /readyz (default 90: about 4 s idle, more on a busy machine)
#   KUBE_TEST_REMOVE_WORKDIR=1  the watchdog deletes WORKDIR after stopping (etcd preallocates ~120 MB)
set -euo pipefail

readonly VERSION=1.20.2
HERE=$(cd "$(dirname "$0")" && pwd)
readonly HERE
KAS=${KUBE_APISERVER:-${XDG_CACHE_HOME:-$HOME/.cache}/eventlistener/kube-apiserver-$VERSION/kube-apiserver}
OWNER=${KUBE_TEST_OWNER_PID:-$PPID}
READY_TIMEOUT=${KUBE_TEST_READY_TIMEOUT:-90}
REMOVE=${KUBE_TEST_REMOVE_WORKDIR:-0}
# A port picked free can be taken before etcd or the apiserver binds it: pick again, this many times.
readonly ATTEMPTS=3

die() { echo "start-apiserver: error: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: start-apiserver.sh WORKDIR"
[ -x "$KAS" ] || die "no kube-apiserver at $KAS: run scripts/kube-test/build-kube-apiserver.sh"
command -v etcd >/dev/null || die "no etcd on PATH: run scripts/kube-test/build-kube-apiserver.sh"
for tool in openssl curl python3; do command -v $tool >/dev/null || die "no $tool on PATH"; done
mkdir -p "$1"
W=$(cd "$1" && pwd)
[ -z "$(ls -A "$W")" ] || die "$W is not empty (a server may be running there: stop-apiserver.sh $W)"

# Three distinct free loopback ports: every socket is bound to port 0 before any is closed.
free_ports() {
  python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'
}

make_pki() {
  mkdir -p "$W/pki"
  cd "$W/pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=eventlistener-test-ca \
    -keyout ca.key -out ca.crt 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
    -keyout apiserver.key -out apiserver.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >ext.cnf
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile ext.cnf -out apiserver.crt 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  # token,user,uid,"groups": system:masters is bound to cluster-admin by the default RBAC policy.
  echo "$TOKEN,eventlistener-test-admin,uid-test-admin,\"system:masters\"" >tokens.csv
  echo "$TOKEN" >"$W/token"
  cd "$W"
}

# Starts etcd and kube-apiserver on the given ports, each in its own session, stdio on files only
# (a caller reading our stdout must see it close when this script ends).
launch() {
  local etcd_port=$1 peer_port=$2 kas_port=$3
  rm -rf "$W/etcd"
  setsid etcd --name test --data-dir "$W/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "test=http://127.0.0.1:$peer_port" \
    </dev/null >"$W/etcd.log" 2>&1 &
  echo $! >"$W/etcd.pid"
  setsid "$KAS" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --secure-port="$kas_port" --insecure-port=0 --etcd-servers="http://127.0.0.1:$etcd_port" \
    --tls-cert-file="$W/pki/apiserver.crt" --tls-private-key-file="$W/pki/apiserver.key" \
    --client-ca-file="$W/pki/ca.crt" --token-auth-file="$W/pki/tokens.csv" \
    --authorization-mode=RBAC --service-cluster-ip-range=10.0.0.0/24 \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$W/pki/sa.key" \
    --service-account-signing-key-file="$W/pki/sa.key" --disable-admission-plugins=ServiceAccount \
    --cert-dir="$W/pki" \
    </dev/null >"$W/kube-apiserver.log" 2>&1 &
  echo $! >"$W/kube-apiserver.pid"
}

alive() { kill -0 "$(cat "$W/$1.pid")" 2>/dev/null; }

# Waits for /readyz: 0 ready, 1 etcd or the apiserver exited (a port taken, a bad flag), 2 timeout,
# 3 the owner is gone.
wait_ready() {
  local url=$1 deadline=$((SECONDS + READY_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    curl -sf --max-time 2 --cacert "$W/pki/ca.crt" -H "Authorization: Bearer $TOKEN" \
      "$url/readyz" >/dev/null 2>&1 && return 0
    alive etcd && alive kube-apiserver || return 1
    [ "$OWNER" = 0 ] || kill -0 "$OWNER" 2>/dev/null || return 3
    sleep 0.1
  done
  return 2
}

port_taken() { grep -qs 'address already in use' "$W/etcd.log" "$W/kube-apiserver.log"; }

# The watchdog runs from before the first launch, so a caller killed while we wait still stops both.
start_watchdog() {
  [ "$OWNER" != 0 ] || return 0
  # Polls the owner; once it is gone (or a zombie), stops the apiserver then etcd by PID, and
  # removes WORKDIR if asked.
  # shellcheck disable=SC2016 # the watchdog's own script, expanded by the watchdog
  setsid bash -c '
    owner=$1 workdir=$2 stop=$3 remove=$4
    while kill -0 "$owner" 2>/dev/null \
      && ! grep -qs "^State:[[:space:]]*Z" "/proc/$owner/status"; do sleep 0.5; done
    "$stop" "$workdir"
    if [ "$remove" = 1 ]; then rm -rf "$workdir"; fi
  ' watchdog "$OWNER" "$W" "$HERE/stop-apiserver.sh" "$REMOVE" </dev/null >/dev/null 2>&1 &
  echo $! >"$W/watchdog.pid"
}

make_pki
start_watchdog
started_ns=$(date +%s%N)
for attempt in $(seq $ATTEMPTS); do
  read -r etcd_port peer_port kas_port < <(free_ports)
  url="https://127.0.0.1:$kas_port"
  launch "$etcd_port" "$peer_port" "$kas_port"
  status=0
  wait_ready "$url" || status=$?
  [ $status -eq 0 ] && break
  if [ $status -eq 1 ] && port_taken && [ "$attempt" -lt $ATTEMPTS ]; then
    KUBE_TEST_KEEP_WATCHDOG=1 "$HERE/stop-apiserver.sh" "$W" >/dev/null 2>&1 || true
    echo "start-apiserver: a port was taken; picking others" >&2
    continue
  fi
  "$HERE/stop-apiserver.sh" "$W" >/dev/null 2>&1 || true
  echo "--- etcd.log (last 20 lines)" >&2; tail -20 "$W/etcd.log" >&2 || true
  echo "--- kube-apiserver.log (last 30 lines)" >&2; tail -30 "$W/kube-apiserver.log" >&2 || true
  [ $status -eq 2 ] && die "$url/readyz not ok after ${READY_TIMEOUT}s (logs in $W)"
  [ $status -eq 3 ] && die "the owner process $OWNER is gone; stopped"
  die "etcd or kube-apiserver exited before /readyz answered ok (logs in $W)"
done
ready_ms=$((($(date +%s%N) - started_ns) / 1000000))

echo "$url" >"$W/url"
cat >"$W/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: eventlistener-test
  cluster: {server: "$url", certificate-authority: "$W/pki/ca.crt"}
users:
- name: eventlistener-test-admin
  user: {token: "$TOKEN"}
contexts:
- name: eventlistener-test
  context: {cluster: eventlistener-test, user: eventlistener-test-admin, namespace: default}
current-context: eventlistener-test
KUBECONFIG

echo "start-apiserver: ready in ${ready_ms} ms at $url (etcd 127.0.0.1:$etcd_port; owner ${OWNER})" >&2
echo "$W/kubeconfig"

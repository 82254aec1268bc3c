#!/usr/bin/env bash
# Builds and caches the kube-apiserver the Kubernetes tests run against, and installs etcd.
#
# No registry ships a kube-apiserver that runs here, so it is compiled from Debian bookworm's own
# `kubernetes` source package (upstream v1.20.2 with vendored dependencies) with Debian's Go.
# etcd is Debian's `etcd-server`. Only Debian packages are used, through the ordinary apt client.
#
# Idempotent: a cached binary is reused. Cold, on 2 cores: 5 min 6 s to the binary plus about a minute
# deleting the scratch tree (measured with other builds running; 9 min 23 s under heavy load).
# Prints the cache directory on its last line. Usage: build-kube-apiserver.sh
# Environment: XDG_CACHE_HOME (the cache root, default $HOME/.cache).
set -euo pipefail

readonly VERSION=1.20.2
readonly CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/eventlistener/kube-apiserver-$VERSION"
readonly BIN="$CACHE_DIR/kube-apiserver"
# What the tests need at run time (kubectl comes with the machine image; see below).
readonly RUNTIME_PACKAGES=(etcd-server openssl curl python3)
# What the build needs: the source package's Build-Depends (golang-go, jq, rsync) plus make, and the two
# Debian-packaged Go libraries overlaid on the vendored ones (see overlay_fixed_go_libraries).
readonly BUILD_PACKAGES=(golang-go jq rsync make golang-github-modern-go-reflect2-dev
  golang-github-json-iterator-go-dev)

scratch=

log() { echo "build-kube-apiserver: $*" >&2; }
die() { log "error: $*"; exit 1; }

export DEBIAN_FRONTEND=noninteractive

# A fresh machine may have no package lists at all; apt-get install then finds nothing.
apt_lists_present() { compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }

# Installs the packages that are missing; one `apt-get update` and retry when the lists are stale.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing packages ${missing[*]}: install them as root"
    as_root=(sudo DEBIAN_FRONTEND=noninteractive)
  fi
  apt_lists_present || { log "no apt package lists: apt-get update"; "${as_root[@]}" apt-get update -qq; }
  log "apt-get install ${missing[*]}"
  if ! "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    log "apt-get install failed; apt-get update and one retry"
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Writes deb-src entries derived from the machine's own Debian entries into a private apt state under
# $1, so the machine's apt configuration is not changed (and no root is needed to read sources). Prints the apt-get options that select it.
private_source_apt() {
  local dir=$1
  mkdir -p "$dir/lists/partial" "$dir/parts" "$dir/cache/archives/partial"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$dir/parts/src.sources"
  fi
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list >"$dir/parts/src.list"
  fi
  grep -qs '^\(Types: \)\?deb-src' "$dir"/parts/* \
    || die "no Debian entry in /etc/apt/sources.list{,.d/debian.sources} to derive a deb-src entry from"
  echo "-o Dir::Etc::SourceParts=$dir/parts -o Dir::Etc::SourceList=/dev/null" \
    "-o Dir::State::Lists=$dir/lists -o Dir::Cache=$dir/cache"
}

# Go >= 1.18 with the vendored reflect2 1.0.1 crashes the server ("fatal error: fault" in
# runtime.mapiternext) on the first custom-resource create. Debian packages the fixed reflect2 1.0.2
# and json-iterator 1.1.12: overlay them on the vendored copies.
overlay_fixed_go_libraries() {
  local gocode=/usr/share/gocode/src/github.com
  rsync -a --delete --exclude '*_test.go' --exclude '*_tests/' \
    "$gocode/modern-go/reflect2/" vendor/github.com/modern-go/reflect2/
  rsync -a --delete --exclude '*_test.go' --exclude '*_tests/' --exclude 'benchmarks/' \
    "$gocode/json-iterator/go/" vendor/github.com/json-iterator/go/
}

build() {
  local started apt_opts src
  started=$(date +%s)
  apt_install "${BUILD_PACKAGES[@]}"

  scratch=$(mktemp -d "${TMPDIR:-/tmp}/kube-apiserver-build.XXXXXX")
  # apt-get source warns that a download into a 0700 directory is "unsandboxed".
  chmod 755 "$scratch"
  trap 'cd / && rm -rf "$scratch"' EXIT
  log "building in $scratch (about 3.3 GB scratch disk, deleted after)"

  apt_opts=$(private_source_apt "$scratch/apt")
  # shellcheck disable=SC2086 # apt_opts is a list of options
  apt-get $apt_opts -qq update
  # shellcheck disable=SC2086
  if ! (cd "$scratch" && apt-get $apt_opts -qq source --download-only kubernetes >"$scratch/source.log" 2>&1); then
    cat "$scratch/source.log" >&2
    die "Debian no longer ships the 'kubernetes' source package in this release
  (the machine's Debian entry: $(grep -h '^Suites:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)).
  The Kubernetes tests need it to build kube-apiserver $VERSION; see README.md, 'Kubernetes tests'."
  fi
  src=$(compgen -G "$scratch/kubernetes_*.orig.tar.gz" | head -1) || die "no kubernetes_*.orig.tar.gz downloaded"
  case "$src" in
    *really"$VERSION".orig.tar.gz | *_"$VERSION".orig.tar.gz) ;;
    *) die "Debian's kubernetes source is now $(basename "$src"), not upstream $VERSION; update VERSION and the tests" ;;
  esac
  log "source $(basename "$src")"
  tar xzf "$src" -C "$scratch"
  cd "$scratch"/kubernetes-*/
  if [ ! -d cmd/kube-apiserver ] || [ ! -d vendor ]; then
    die "$(basename "$src") has no cmd/kube-apiserver or vendor/"
  fi

  overlay_fixed_go_libraries
  # `make`, not `go build`: make runs the code generators (go build fails on go.mod and on the
  # generated openapi file). HOME and GOCACHE stay in the scratch directory.
  log "make WHAT=cmd/kube-apiserver (log: $scratch/make.log)"
  if ! env HOME="$scratch/home" GOCACHE="$scratch/gocache" GOFLAGS= CGO_ENABLED=0 \
      make WHAT=cmd/kube-apiserver >"$scratch/make.log" 2>&1; then
    tail -40 "$scratch/make.log" >&2
    die "make WHAT=cmd/kube-apiserver failed"
  fi

  mkdir -p "$CACHE_DIR"
  # Copy then rename, so a concurrent reader never sees half a binary.
  cp _output/bin/kube-apiserver "$CACHE_DIR/kube-apiserver.partial"
  mv "$CACHE_DIR/kube-apiserver.partial" "$BIN"
  basename "$src" >"$CACHE_DIR/source"
  cd /
  log "built in $(($(date +%s) - started)) s"
}

mkdir -p "$CACHE_DIR"
# Two builds at once (CI and a developer, two worktrees) would each take 5+ minutes and 3 GB: serialize.
exec 9>"$CACHE_DIR/.lock"
flock 9

apt_install "${RUNTIME_PACKAGES[@]}"
command -v kubectl >/dev/null || apt_install kubernetes-client
if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  log "cached: $("$BIN" --version)"
else
  build
  log "$("$BIN" --version)"
fi
command -v etcd >/dev/null || die "etcd not on PATH after installing etcd-server"
log "etcd $(etcd --version | head -1)"
echo "$CACHE_DIR"

#!/usr/bin/env bash
# Builds the eventlistener image without a container engine or a registry: an OCI image layout
# (directory) plus the same layout as a tar, made with umoci from a static musl binary.
#
# The image is what Dockerfile builds, assembled by hand: one layer holding /eventlistener and what
# gcr.io/distroless/static-debian12:nonroot gives it (/etc/passwd and /etc/group with nonroot
# 65532 and its home /home/nonroot, the CA bundle /etc/ssl/certs/ca-certificates.crt from Debian's
# ca-certificates, /tmp), run as 65532:65532 with Dockerfile's ENTRYPOINT, CMD and EXPOSE.
# .ci/image-check compares the two and runs the image with runc. No shell, no libc, no base image.
#
# Usage: scripts/image/build-oci.sh [--dev | --binary PATH] [--tag TAG] OUT
#   OUT           the OCI layout directory to write (replaced); OUT.tar is written beside it
#   --dev         the dev profile without debug info instead of release with PGO (cold on 2
#                 cores: 4 min instead of 40; for checks, not for shipping)
#   --binary PATH package this static binary instead of building one
#   --tag TAG     the image's tag in the layout (default: the crate's version)
# Push or load the result with any OCI tool, e.g. skopeo (Debian package):
#   skopeo copy oci-archive:OUT.tar:TAG docker://registry.example.com/eventlistener:TAG
#
# Needs: cargo and rustup (adds the <arch>-unknown-linux-musl target), Debian's musl-tools and
# make (ring and jemalloc compile C for the musl target), umoci and ca-certificates; missing
# packages are installed with apt-get (as root, or through sudo). umoci runs rootless: no root is
# needed to assemble, and file ownership in the layer comes from tar, not from the machine's users.
# Environment: CARGO_TARGET_DIR (default target), SOURCE_DATE_EPOCH (file times in the layer and
# the image's creation time; default 0, so that a rebuild of the same binary gives the same layer).
set -euo pipefail

log() { echo "build-oci: $*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '11,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

root=$(cd "$(dirname "$0")/../.." && pwd)
profile=release binary='' tag='' out=''
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) profile=dev ;;
    --binary) [ $# -ge 2 ] || usage; binary=$2; shift ;;
    --tag) [ $# -ge 2 ] || usage; tag=$2; shift ;;
    -h | --help) usage ;;
    -*) log "unknown option $1"; usage ;;
    *) [ -z "$out" ] || usage; out=$1 ;;
  esac
  shift
done
[ -n "$out" ] || usage
if [ -z "$tag" ]; then
  tag=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -1)
  [ -n "$tag" ] || die "no version in Cargo.toml; pass --tag"
fi
epoch=${SOURCE_DATE_EPOCH:-0}

export DEBIAN_FRONTEND=noninteractive
apt_lists_present() { compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }
# Installs the packages that are missing; one `apt-get update` and retry when the lists are stale.
apt_install() {
  local missing=() p as_root=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || as_root=(sudo DEBIAN_FRONTEND=noninteractive)
  apt_lists_present || { log "no apt package lists: apt-get update"; "${as_root[@]}" apt-get update -qq; }
  log "apt-get install ${missing[*]}"
  if ! "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    log "apt-get install failed; apt-get update and one retry"
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

packages=(umoci ca-certificates)
[ -n "$binary" ] || packages+=(musl-tools make) # make: jemalloc's build (release)
apt_install "${packages[@]}"

# 1. The static binary, as Dockerfile's build stage makes it (stripped; release unless --dev).
if [ -z "$binary" ]; then
  target="$(uname -m)-unknown-linux-musl"
  if ! rustup target list --installed | grep -qx "$target" && ! rustup target add "$target"; then
    # The one download that is not a package registry: a machine that cannot reach rustup's
    # server cannot build a static binary at all. Exit 3 says exactly that (.ci/run reports it).
    log "cannot add the rustup target $target: static.rust-lang.org not reachable?"
    exit 3
  fi
  target_dir=${CARGO_TARGET_DIR:-$root/target}
  if [ "$profile" = release ]; then
    # As the Dockerfile: the release build with profile-guided optimisation and jemalloc.
    binary="$target_dir/pgo/eventlistener-$target"
    (cd "$root" && scripts/pgo/build.sh --target "$target" --features jemalloc --out "$binary" \
      -- --config profile.release.strip=true)
  else
    (cd "$root" && cargo build --locked --bin eventlistener --target "$target" \
      --config profile.dev.debug=false --config profile.dev.strip=true)
    binary="$target_dir/$target/debug/eventlistener"
  fi
fi
[ -f "$binary" ] || die "no binary at $binary"
# Static: no program interpreter (dynamic loader) in the ELF file.
if LC_ALL=C readelf --program-headers "$binary" 2>/dev/null | grep -q 'INTERP'; then
  die "$binary is dynamically linked; the image has no libc (build for a musl target)"
fi

# 2. The layer's files, in a scratch directory.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/build-oci.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
rootfs="$scratch/rootfs"
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/home/nonroot" "$rootfs/tmp"
install -m 0755 "$binary" "$rootfs/eventlistener"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
# The users and groups of distroless's images; 65532 is the one the image runs as.
cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/home/nonroot"
# Owners are set here, not taken from the disk: everything root's but nonroot's home.
tar_opts=(--format=pax "--pax-option=delete=atime,delete=ctime" --mtime="@$epoch" --numeric-owner)
layer="$scratch/layer.tar"
tar --create --file "$layer" "${tar_opts[@]}" --sort=name --owner=0 --group=0 \
  --exclude=./home/nonroot -C "$rootfs" .
tar --append --file "$layer" "${tar_opts[@]}" --owner=65532 --group=65532 -C "$rootfs" ./home/nonroot

# 3. The image: an empty one, the layer, then Dockerfile's USER, EXPOSE, ENTRYPOINT and CMD, and
# the environment distroless sets (PATH, and SSL_CERT_FILE naming the CA bundle).
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
layout="$scratch/oci"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci raw add-layer --image "$layout:$tag" --history.created "$created" \
  --history.created_by "scripts/image/build-oci.sh" "$layer"
cmd_args=()
for arg in serve -f /etc/eventlistener/config --address 0.0.0.0:8080; do
  cmd_args+=("--config.cmd=$arg")
done
umoci config --image "$layout:$tag" --created "$created" --history.created "$created" \
  --os linux --config.user 65532:65532 --config.exposedports 8080/tcp \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --config.entrypoint /eventlistener "${cmd_args[@]}" \
  --config.label "org.opencontainers.image.title=eventlistener" \
  --config.label "org.opencontainers.image.version=$tag"
umoci gc --layout "$layout"

rm -rf "$out" "$out.tar"
mkdir -p "$(dirname "$out")"
cp -r "$layout" "$out"
tar --create --file "$out.tar" "${tar_opts[@]}" --sort=name --owner=0 --group=0 --mode=a+rX -C "$out" .
log "image $tag: $out (OCI layout) and $out.tar ($(du -h "$out.tar" | cut -f1))"
echo "$out"

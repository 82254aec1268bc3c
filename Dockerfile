# syntax=docker/dockerfile:1
# The eventlistener image: one static (musl) binary on distroless/static, run as a non-root user.
#
#   docker build -t eventlistener .
#   docker run --rm -p 8080:8080 -v "$PWD/config:/etc/eventlistener/config:ro" eventlistener
#
# Needs BuildKit (the cache mounts below), the default builder since Docker 23. Builds for the
# architecture it runs on (use `docker buildx build --platform linux/arm64` for arm64).
# The project's machines have no Docker engine, so CI does not build this file: it lints it with
# hadolint, and builds the same image with scripts/image/build-oci.sh (umoci, no engine, no base
# image), which .ci/image-check compares with this file's final stage (USER, EXPOSE, ENTRYPOINT,
# CMD) and runs with runc as 65532. Change those four here and in that script together.

FROM rust:1.95-slim-bookworm AS build
# musl-gcc: for dependencies that compile C for the musl target (ring, the cryptography under
# rustls for the Kubernetes API; jemalloc, whose build also runs make). Pinned as hadolint asks;
# bookworm's versions.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 make=4.3-4.1 \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add "$(uname -m)-unknown-linux-musl"
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Profile-guided optimisation (scripts/pgo/build.sh, BENCHMARKS.md "Stop 29"): an instrumented
# build serves config/ to the fixtures on 127.0.0.1 inside this stage, then the release build
# uses that profile. It needs rustup's llvm-tools, which the script adds. jemalloc, not musl's
# malloc: musl's costs the server twice the CPU per event (same section).
COPY config ./config
COPY fixtures/github ./fixtures/github
COPY scripts/pgo ./scripts/pgo
# The registry and target directories are build caches, not layers: a source change rebuilds
# only this crate. The binary is copied out of the cache mount to land in the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    scripts/pgo/build.sh --target "$(uname -m)-unknown-linux-musl" --features jemalloc \
      --out /eventlistener \
      -- --config profile.release.strip=true

# distroless/static: CA certificates, /etc/passwd with nonroot (65532), no shell, no libc.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /eventlistener /eventlistener
# Numeric, so that Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/eventlistener"]
# The Helm chart replaces these arguments; these serve manifests mounted at the same path.
CMD ["serve", "-f", "/etc/eventlistener/config", "--address", "0.0.0.0:8080"]

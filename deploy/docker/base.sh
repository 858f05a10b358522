#!/usr/bin/env bash
# The local base image, for machines that reach no image registry: Debian bookworm (minbase)
# made with debootstrap and imported as blindpost-base:bookworm.  Users with a registry build
# from the digest-pinned debian:bookworm-slim instead (the Dockerfile's BASE_IMAGE default);
# both are the same Debian release, so every later layer is identical.
# Built once: the root filesystem's tarball is kept in var/docker/ and re-imported when the
# engine lost the image; nothing is done when the image exists.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
IMAGE="${BLINDPOST_BASE_IMAGE:-blindpost-base:bookworm}"
CACHE="$ROOT/var/docker"
TARBALL="$CACHE/base-bookworm.tar"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
EXTRA_CA_DIR="${BLINDPOST_BUILD_CA_DIR:-/usr/local/share/ca-certificates}"

say() { printf '[base] %s\n' "$*" >&2; }
die() { printf '[base] ERROR: %s\n' "$*" >&2; exit 1; }

bash "$ROOT/deploy/docker/engine.sh" up
if docker image inspect "$IMAGE" >/dev/null 2>&1; then exit 0; fi

mkdir -p "$CACHE"
if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install -y debootstrap"
  say "building Debian bookworm (minbase) with debootstrap (once, about 30 s)"
  rootfs="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: var/docker/debootstrap.log)"; }
  # Smaller and reproducible enough: no package lists, no apt caches in the base.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" --numeric-owner -cf "$TARBALL.part" .
  mv "$TARBALL.part" "$TARBALL"
fi
# The machine's own extra certificate authorities (a TLS-inspecting egress proxy, a company
# CA) are added so the image build reaches PyPI; ca-certificates, installed by the Dockerfile,
# picks them up, and the runtime stage drops them again from what it ships.
say "importing $IMAGE"
staged="$(mktemp "$CACHE/base.XXXXXX.tar")"
trap 'rm -f "$staged"' EXIT
cp "$TARBALL" "$staged"
if compgen -G "$EXTRA_CA_DIR/*.crt" >/dev/null; then
  extras="$(mktemp -d "$CACHE/ca.XXXXXX")"
  mkdir -p "$extras/usr/local/share/ca-certificates"
  cp "$EXTRA_CA_DIR"/*.crt "$extras/usr/local/share/ca-certificates/"
  tar -C "$extras" --numeric-owner --owner=0 --group=0 -rf "$staged" ./usr/local/share/ca-certificates
  rm -rf "$extras"
fi
docker import --change 'CMD ["bash"]' "$staged" "$IMAGE" >/dev/null

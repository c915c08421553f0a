#!/usr/bin/env bash
# Installs everything qemu-webrtc needs on Debian 12 (bookworm), idempotently:
# Debian packages (QEMU 10 and Mesa 25 from bookworm-backports), pnpm, the workspace's
# dependencies, native builds, generated code and the test guest.
# Needs root (or sudo), Node.js >= 20.10 with npm and its headers in /usr/include/node.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PNPM_VERSION=10.34.9
# From bookworm (docker.io, docker-compose, debootstrap, openssl: the deploy test stage).
APT_PACKAGES=(ca-certificates nats-server dbus chromium fonts-dejavu-core build-essential pkg-config python3
  util-linux libavcodec-dev libavutil-dev libswscale-dev ffmpeg openssl
  docker.io docker-compose debootstrap)
# From bookworm-backports: QEMU 10 (D-Bus display with Unix.Map) and Mesa 25 (EGL dma-buf import on llvmpipe).
BACKPORTS_PACKAGES=(qemu-system-x86 qemu-system-modules-opengl libegl-mesa0 libgl1-mesa-dri libegl-dev
  libgles-dev libdrm-dev)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=() missing_bp=()
for p in "${APT_PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
for p in "${BACKPORTS_PACKAGES[@]}"; do installed "$p" || missing_bp+=("$p"); done
# A package that is not installed yet has no version: dpkg-query fails, which must not end the script.
major_of() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null | sed -E 's/^[0-9]+://; s/\..*//' || true; }
qemu_major=$(major_of qemu-system-x86)
if [ -n "$qemu_major" ] && [ "$qemu_major" -lt 10 ]; then missing_bp+=(qemu-system-x86); fi
mesa_major=$(major_of libegl-mesa0)
if [ -n "$mesa_major" ] && [ "$mesa_major" -lt 25 ]; then missing_bp+=(libegl-mesa0 libgl1-mesa-dri); fi

if [ ${#missing[@]} -gt 0 ] || [ ${#missing_bp[@]} -gt 0 ]; then
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding bookworm-backports to apt sources"
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
      as_root tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
  fi
  say "installing Debian packages: ${missing[*]} ${missing_bp[*]}"
  as_root apt-get update -q
  export DEBIAN_FRONTEND=noninteractive
  if [ ${#missing_bp[@]} -gt 0 ]; then as_root apt-get install -y -q -t bookworm-backports "${missing_bp[@]}"; fi
  if [ ${#missing[@]} -gt 0 ]; then as_root apt-get install -y -q "${missing[@]}"; fi
fi

# Bookworm's QEMU 7.2 unpacked beside QEMU 10 (tests of a QEMU without display flow control).
bash scripts/setup-qemu-7.2.sh

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then echo "Node.js >= 20 is needed, found $(node --version)" >&2; exit 1; fi
node_include="$(dirname "$(dirname "$(command -v node)")")/include/node"
if [ ! -f "$node_include/node_api.h" ]; then
  echo "Node's headers are missing ($node_include/node_api.h): native addons build against them." >&2
  exit 1
fi
# node-gyp builds against the installed headers and never downloads them.
export npm_config_nodedir="${node_include%/include/node}"

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  say "installing pnpm $PNPM_VERSION"
  as_root npm install -g --no-audit --no-fund "pnpm@$PNPM_VERSION"
fi

say "installing workspace dependencies"
pnpm install --frozen-lockfile --reporter=append-only
say "building"
pnpm build
# The start command's fast path: records what this setup and build were made from.
node scripts/build-stamp.mjs write

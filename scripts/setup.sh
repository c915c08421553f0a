#!/usr/bin/env bash
# Installs everything qemu-webrtc needs on Debian 12 (bookworm), idempotently, as named steps:
#   node             Node.js >= 20.10 with npm and its headers (the README's precondition: checked)
#   backports        QEMU >= 10 and Mesa >= 25 from bookworm-backports (upgraded when older)
#   debian-packages  the rest from bookworm (nats-server, dbus, chromium, FFmpeg, build tools, ...)
#   pnpm             pnpm, exactly the version package.json's packageManager names
#   workspace        the workspace's dependencies (pnpm install --frozen-lockfile)
#   build            codegen, native builds, TypeScript, the test guest (pnpm build)
# Needs root or sudo when something is to be installed. Every step says what it found or does; a
# failure names its step and what you can do about it.
#
# Adding a step: write check_NAME (fast, changes nothing; returns 0 when there is nothing to do and
# may set FOUND to say what it found) and run_NAME (does the step; check_NAME must pass after it,
# unless check_NAME always returns 1), put HINT[NAME] (what the user can do when it fails) next to
# them, and list NAME in STEPS.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NODE_MIN=20.10
QEMU_MIN=10 # D-Bus display with Listener.Unix.Map (and the field notes' 10.0 behaviour)
MESA_MIN=25 # llvmpipe imports a memfd as a LINEAR dma-buf (EGL import tests); Mesa 22 cannot
# The pnpm version has one home: package.json's packageManager field.
PNPM_VERSION=$(sed -nE 's/^ *"packageManager": *"pnpm@([^"]+)".*/\1/p' package.json)

# From bookworm (docker.io, docker-compose, debootstrap, openssl: the docker test stages).
# iproute2: ip and tc for the tests' network namespaces (not in minimal images).
# libxkbcommon-tools, xkb-data, x11proto-dev: the page's keyboard layouts for paste-as-keys are
# generated from xkeyboard-config at build time (xkbcli, keysymdef.h; services/signaling/scripts).
APT_PACKAGES=(ca-certificates nats-server dbus chromium fonts-dejavu-core build-essential pkg-config python3
  util-linux iproute2 libavcodec-dev libavutil-dev libswresample-dev libswscale-dev ffmpeg openssl
  docker.io docker-compose debootstrap libxkbcommon-tools xkb-data x11proto-dev)
# From bookworm-backports: QEMU 10 and Mesa 25 (with their -dev packages, whose versions must match).
BACKPORTS_PACKAGES=(qemu-system-x86 qemu-system-modules-opengl libegl-mesa0 libgl1-mesa-dri libegl-dev
  libgles-dev libdrm-dev)
# Minimum versions (dpkg's ordering) of the packages whose version we depend on.
declare -A MIN_VERSION=([qemu-system-x86]="1:$QEMU_MIN~" [libegl-mesa0]="$MESA_MIN~" [libgl1-mesa-dri]="$MESA_MIN~")

declare -A HINT
STEPS=(
  node
  backports
  debian-packages
  qemu-7.2
  pnpm
  workspace
  build
)

# --- reporting ------------------------------------------------------------------------------------
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
current_step=starting
started=$SECONDS
die() {
  printf '\033[1;31m[setup] FAILED in step %s:\033[0m %s\n' "$current_step" "$*" >&2
  [ -z "${HINT[$current_step]:-}" ] || printf '[setup] what you can do: %s\n' "${HINT[$current_step]}" >&2
  reported=1
  exit 1
}
reported=0
on_error() {
  local status=$? command=${failed_command:-$BASH_COMMAND} line=${BASH_LINENO[0]}
  trap - ERR
  # shellcheck disable=SC2016 # literal backquotes around the command
  printf '\033[1;31m[setup] FAILED in step %s\033[0m (exit %s): `%s` (scripts/setup.sh line %s)\n' \
    "$current_step" "$status" "$command" "$line" >&2
  [ -z "${HINT[$current_step]:-}" ] || printf '[setup] what you can do: %s\n' "${HINT[$current_step]}" >&2
  reported=1
  exit "$status"
}
# Whatever ends the script early (an unbound variable, a signal) still says where.
on_exit() {
  local status=$?
  if [ "$status" -ne 0 ] && [ "$reported" -eq 0 ]; then
    printf '\033[1;31m[setup] FAILED in step %s\033[0m (exit %s)\n' "$current_step" "$status" >&2
  fi
}
trap on_error ERR
trap on_exit EXIT

failed_command=
# Runs a command as root (sudo when needed); a failure is reported with the command as run.
as_root() {
  local status=0
  if [ "$(id -u)" -eq 0 ]; then
    "$@" || status=$?
  elif command -v sudo >/dev/null; then
    sudo "$@" || status=$?
  else
    die "this needs root, and sudo is not installed: run as root, or install sudo"
  fi
  if [ "$status" -ne 0 ]; then failed_command="$*"; fi
  return "$status"
}

# --- Debian packages ------------------------------------------------------------------------------
# Installed versions, one dpkg-query for all (a package dpkg does not know is simply absent).
declare -A VERSION
read_versions() {
  local out pkg status version
  VERSION=()
  out=$(dpkg-query -W -f='${Package} ${db:Status-Status} ${Version}\n' "$@" 2>/dev/null || true)
  while read -r pkg status version; do
    if [ "$status" = installed ]; then VERSION[${pkg%%:*}]=$version; fi
  done <<<"$out"
}
# Sets NEED to the packages among $@ that are missing or older than MIN_VERSION.
needed() {
  local p
  NEED=()
  read_versions "$@"
  for p in "$@"; do
    if [ -z "${VERSION[$p]:-}" ]; then
      NEED+=("$p")
    elif [ -n "${MIN_VERSION[$p]:-}" ] && ! dpkg --compare-versions "${VERSION[$p]}" ge "${MIN_VERSION[$p]}"; then
      NEED+=("$p")
    fi
  done
}
apt_updated=0
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    as_root apt-get update -q
    apt_updated=1
  fi
  # Waits for another apt (unattended-upgrades) instead of failing on its lock.
  as_root apt-get install -y -q -o DPkg::Lock::Timeout=600 "$@"
}
describe_versions() {
  local p sep=
  for p in "$@"; do
    printf '%s%s %s' "$sep" "$p" "${VERSION[$p]:-(none)}"
    sep=', '
  done
}

# --- steps ----------------------------------------------------------------------------------------
HINT[node]="install Node.js >= $NODE_MIN with npm and its headers (a nodejs.org or NodeSource build; Debian 12's nodejs is 18), then run this again"
check_node() {
  command -v node >/dev/null || die "node is not on PATH"
  node -e "const [a, b] = process.versions.node.split('.').map(Number); const [x, y] = '$NODE_MIN'.split('.').map(Number); process.exit(a > x || (a === x && b >= y) ? 0 : 1)" ||
    die "Node.js >= $NODE_MIN is needed, found $(node --version)"
  command -v npm >/dev/null || die "npm is not on PATH (it comes with Node.js)"
  local prefix
  prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  [ -f "$prefix/include/node/node_api.h" ] ||
    die "Node's headers are missing ($prefix/include/node/node_api.h): native addons build against them"
  # node-gyp builds against the installed headers and never downloads them.
  export npm_config_nodedir=$prefix
  FOUND="Node $(node --version), headers in $prefix/include/node"
}
run_node() { :; }

HINT[backports]="check that deb.debian.org is reachable (apt-get update) and that bookworm-backports is in your apt sources, then run this again"
check_backports() {
  needed "${BACKPORTS_PACKAGES[@]}"
  FOUND=$(describe_versions qemu-system-x86 libegl-mesa0)
  [ ${#NEED[@]} -eq 0 ]
}
run_backports() {
  if ! grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding bookworm-backports to apt sources (/etc/apt/sources.list.d/bookworm-backports.sources)"
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
      as_root tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
    apt_updated=0
  fi
  say "installing from bookworm-backports: ${NEED[*]} (installed: $(describe_versions "${NEED[@]}"))"
  # -t: the release for these packages and for the dependencies they pull (matching -dev versions).
  apt_install -t bookworm-backports "${BACKPORTS_PACKAGES[@]}"
}

HINT[debian-packages]="check that deb.debian.org is reachable (apt-get update) and that no other apt is broken (apt-get -f install), then run this again"
check_debian_packages() {
  needed "${APT_PACKAGES[@]}"
  FOUND="${#APT_PACKAGES[@]} packages"
  [ ${#NEED[@]} -eq 0 ]
}
run_debian_packages() {
  say "installing from bookworm: ${NEED[*]}"
  apt_install "${NEED[@]}"
}

HINT[qemu-7.2]="check that deb.debian.org is reachable (apt-get download needs bookworm's lists: apt-get update); scripts/setup-qemu-7.2.sh says which part failed"
# Bookworm's QEMU 7.2 unpacked beside QEMU 10 (tests of a QEMU without display flow control); the
# script itself finds in a second that it is already there.
check_qemu_7_2() { return 1; }
run_qemu_7_2() { bash scripts/setup-qemu-7.2.sh; }

HINT[pnpm]="check that the npm registry is reachable (npm ping); pnpm is installed with npm install -g pnpm@$PNPM_VERSION"
check_pnpm() {
  [ -n "$PNPM_VERSION" ] || die "package.json names no pnpm version in packageManager"
  local found
  found=$(pnpm --version 2>/dev/null || true)
  FOUND="pnpm ${found:-(none)}"
  [ "$found" = "$PNPM_VERSION" ]
}
run_pnpm() {
  say "installing pnpm $PNPM_VERSION (found: ${FOUND#pnpm })"
  as_root npm install -g --no-audit --no-fund "pnpm@$PNPM_VERSION"
  hash -r
}

HINT[workspace]="check that the npm registry is reachable (npm ping); if pnpm-lock.yaml was edited by hand, run pnpm install and commit the lockfile"
check_workspace() { return 1; } # pnpm itself finds what is out of date, in about a second
run_workspace() {
  say "workspace: pnpm install --frozen-lockfile"
  pnpm install --frozen-lockfile --reporter=append-only
}

HINT[build]="read the first error above; a native build needs the -dev packages of step debian-packages and backports (run this again after fixing them)"
check_build() { return 1; } # the build is incremental (tsc -b, make, node-gyp)
run_build() {
  say "build: pnpm build"
  pnpm build
  # The start command's fast path: records what this setup and build were made from.
  node scripts/build-stamp.mjs write
}

# --- main -----------------------------------------------------------------------------------------
for current_step in "${STEPS[@]}"; do
  fn=${current_step//[-.]/_}
  step_start=$SECONDS
  FOUND=
  if "check_$fn"; then
    say "$current_step: ok (${FOUND:-nothing to do})"
    continue
  fi
  [ -z "$FOUND" ] || say "$current_step: ${FOUND}: to do"
  "run_$fn"
  if [ -n "$FOUND" ] && ! "check_$fn"; then
    die "after installing, still not there: $FOUND"
  fi
  say "$current_step: done in $((SECONDS - step_start)) s${FOUND:+ ($FOUND)}"
done
current_step=finished
say "ready in $((SECONDS - started)) s"

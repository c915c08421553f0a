#!/usr/bin/env bash
# Unpacks bookworm's own QEMU 7.2 into /opt/qemu-7.2 (or $QEMU_7_2_DIR), beside the system's QEMU 10
# from backports, which stays the one on PATH. The tests run it to prove capture survives a QEMU
# without D-Bus display flow control (before 9.2 QEMU queues every Update without limit).
# Idempotent: does nothing when the unpacked QEMU already runs. Needs root (or sudo) and apt.
#
# Run it like this (the test kit passes the same):
#   QEMU_MODULE_DIR=/opt/qemu-7.2/usr/lib/x86_64-linux-gnu/qemu \
#     /opt/qemu-7.2/usr/bin/qemu-system-x86_64 -L /opt/qemu-7.2/usr/share/qemu -L /usr/share/seabios ...
set -euo pipefail

DEST=${QEMU_7_2_DIR:-/opt/qemu-7.2}
# qemu-system-x86: the binary; -common: its modules (ui-dbus, ui-opengl, accel-tcg); -data: option ROMs.
PACKAGES=(qemu-system-x86 qemu-system-common qemu-system-data)
MODULES="$DEST/usr/lib/x86_64-linux-gnu/qemu"
BINARY="$DEST/usr/bin/qemu-system-x86_64"

say() { printf '\033[1m[setup qemu-7.2]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
works() {
  [ -x "$BINARY" ] && [ -f "$MODULES/ui-dbus.so" ] &&
    QEMU_MODULE_DIR="$MODULES" "$BINARY" --version 2>/dev/null | grep -q 'version 7\.2' &&
    ! ldd "$BINARY" "$MODULES"/ui-dbus.so "$MODULES"/ui-opengl.so "$MODULES"/accel-tcg-x86_64.so 2>/dev/null |
      grep -q 'not found'
}

if works; then
  say "already unpacked in $DEST"
  exit 0
fi

work=$(mktemp -d)
trap 'as_root rm -rf "$work"' EXIT
# apt downloads as its _apt user when that user may write the folder.
if id _apt >/dev/null 2>&1; then as_root chown _apt "$work"; fi
say "downloading bookworm's ${PACKAGES[*]}"
# pkg/bookworm: the release's own version, not the backports one installed on the system.
download() { (cd "$work" && as_root apt-get download -q "${PACKAGES[@]/%//bookworm}"); }
if ! download; then
  as_root apt-get update -q
  download
fi

# Libraries 7.2 links that QEMU 10 did not bring along: the binary's and its modules' Depends.
needed=()
for deb in "$work"/*.deb; do
  depends=$(dpkg-deb -f "$deb" Depends)
  IFS=',' read -ra items <<<"$depends"
  for item in "${items[@]}"; do
    name=$(sed -E 's/^ *//; s/[ (|].*//' <<<"$item")
    case "$name" in qemu-* | seabios | ipxe-qemu | '') continue ;; esac
    installed "$name" || needed+=("$name")
  done
done
if [ ${#needed[@]} -gt 0 ]; then
  say "installing libraries QEMU 7.2 needs: ${needed[*]}"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${needed[@]}"
fi
installed seabios || DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q seabios

say "unpacking into $DEST"
as_root rm -rf "$DEST.new"
as_root mkdir -p "$DEST.new"
for deb in "$work"/*.deb; do as_root dpkg-deb -x "$deb" "$DEST.new"; done
as_root rm -rf "$DEST"
as_root mv "$DEST.new" "$DEST"

if ! works; then
  echo "QEMU 7.2 in $DEST does not run:" >&2
  QEMU_MODULE_DIR="$MODULES" "$BINARY" --version >&2 || true
  ldd "$BINARY" "$MODULES"/ui-dbus.so "$MODULES"/ui-opengl.so | grep 'not found' >&2 || true
  exit 1
fi
say "QEMU 7.2 ready: $BINARY"

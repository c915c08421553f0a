#!/usr/bin/env bash
# Writes deploy/.env for docker-compose.yml: a random NATS password per service and the uid/gid
# that capture, encoder and input run as (default: the owner of QEMU_DBUS_DIR, else the caller).
# Never overwrites an existing .env (delete it to start over). Variables already set in the
# environment are written as they are.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ -e .env ]; then echo "deploy/.env exists; leaving it as it is"; exit 0; fi

# Letters first: nats-server reads a value that starts with a digit as a number.
secret() { printf 'pw%s' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"; }
dbus_dir=${QEMU_DBUS_DIR:-/run/qemu-webrtc}
uid=${QEMU_UID:-$(stat -c %u "$dbus_dir" 2>/dev/null || id -u)}
gid=${QEMU_GID:-$(stat -c %g "$dbus_dir" 2>/dev/null || id -g)}

# Viewers need a token: without one given, one control token (never printed by the services).
tokens=${SIGNALING_TOKENS:-}
generated=
if [ -z "$tokens" ]; then
  generated="ctl$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')"
  tokens="$generated:control"
fi

umask 077
cat > .env <<ENV
# docker-compose.yml settings (written by gen-env.sh). See README.md for every variable.
NATS_CAPTURE_PASSWORD=${NATS_CAPTURE_PASSWORD:-$(secret)}
NATS_ENCODER_PASSWORD=${NATS_ENCODER_PASSWORD:-$(secret)}
NATS_SIGNALING_PASSWORD=${NATS_SIGNALING_PASSWORD:-$(secret)}
NATS_INPUT_PASSWORD=${NATS_INPUT_PASSWORD:-$(secret)}
# The host directory with QEMU's D-Bus bus socket, and the uid:gid that owns the bus.
QEMU_DBUS_DIR=$dbus_dir
QEMU_UID=$uid
QEMU_GID=$gid
VM_ID=${VM_ID:-vm1}
# Viewer tokens, "token:control,token:view" (secret: the services never print them).
SIGNALING_TOKENS=$tokens
ENV
echo "wrote deploy/.env (QEMU_UID=$uid QEMU_GID=$gid QEMU_DBUS_DIR=$dbus_dir)"
if [ -n "$generated" ]; then
  # Shown here once (it stays in deploy/.env, mode 0600); the token goes in the URL's fragment,
  # which browsers never send to a server.
  echo "viewers with control open: http(s)://<this host>:${SIGNALING_HOST_PORT:-8080}/#token=$generated"
fi

#!/usr/bin/env bash
# The fresh-machine stage of the README's test command (scripts/test.sh runs it after `pnpm test`
# and the deploy stage): the README's two commands, exactly as written, on a clean Debian 12 that
# has only what the README asks for (Node.js >= 20.10 with npm and its headers), as root:
#   1. a Docker engine (deploy/test/docker-engine.sh: started when none answers, stopped at the end)
#      and the base image of the deploy stage (deploy/build-base-image.sh: debootstrap bookworm
#      minbase + this machine's Node, npm and headers, `docker import`; nothing of ours);
#   2. a container of it: privileged (every capability this host can grant, no seccomp: the netns
#      tests), --network host (apt and npm reach their registries: the engine runs without NAT),
#      --shm-size (the frame rings live in /dev/shm); this machine's local CAs and
#      NODE_EXTRA_CA_CERTS (network settings, e.g. a TLS-intercepting proxy to the npm registry);
#      the commit under test (HEAD) as a fresh `git clone` in /root/qemu-webrtc;
#   3. `bash scripts/test.sh` in it: setup from nothing, the build, every test; the docker stages
#      are skipped in there (QEMU_WEBRTC_SKIP_DOCKER_STAGES: no engine inside, no recursion);
#   4. `bash scripts/start.sh` in it with the demo VM: test/tests/fresh-machine-start.test.ts, from
#      outside, opens the printed URL in headless Chromium and must see the guest's frames advance;
#      Ctrl-C must end it with exit 0 and leave nothing running in the container.
# Whatever fails, the trap removes the container and stops the engine it started.
#
#   bash test/fresh-machine/run.sh      (after `pnpm build`: step 4 runs this checkout's test kit)
# Environment: BASE_IMAGE (default qemu-webrtc-base:bookworm, built when missing),
#   FRESH_MACHINE_APT_CACHE (default /var/cache/qemu-webrtc/fresh-machine-apt: apt's downloaded
#   .deb files, kept across runs and mounted at the container's /var/cache/apt/archives; only a
#   download cache, every package is still installed by setup.sh), FRESH_MACHINE_SHM (default 2g).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

BASE_IMAGE=${BASE_IMAGE:-qemu-webrtc-base:bookworm}
APT_CACHE=${FRESH_MACHINE_APT_CACHE:-/var/cache/qemu-webrtc/fresh-machine-apt}
CONTAINER=qwfresh$$
CHECKOUT=/root/qemu-webrtc
work=$(mktemp -d /tmp/qw-fresh-machine.XXXXXX)
stage_start=$(date +%s)

say() { printf '\033[1m[fresh-machine]\033[0m %s\n' "$*"; }
die() {
  printf '\033[1;31m[fresh-machine] %s\033[0m\n' "$*" >&2
  exit 1
}
elapsed() { echo "$(($(date +%s) - ${1:-$stage_start})) s"; }
# shellcheck source=deploy/test/docker-engine.sh
. deploy/test/docker-engine.sh

cleanup() {
  local status=$?
  set +e
  if docker container inspect "$CONTAINER" >/dev/null 2>&1; then
    say "removing container $CONTAINER"
    docker rm -f "$CONTAINER" >/dev/null
  fi
  docker_engine_stop
  rm -rf "$work"
  if [ "$status" -eq 0 ]; then
    say "passed in $(elapsed)"
  else
    printf '\033[1;31m[fresh-machine] FAILED (exit %s) after %s\033[0m\n' "$status" "$(elapsed)" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

[ -f test/dist/tests/fresh-machine-start.test.js ] || die "test/dist/tests/fresh-machine-start.test.js is missing: run pnpm build first"
command -v git >/dev/null || die "git is not installed"

# --- 1. engine and base image ---------------------------------------------------------------------
docker_engine_ensure "$work"
say "base image $BASE_IMAGE"
if [ "$BASE_IMAGE" = qemu-webrtc-base:bookworm ]; then
  IMAGE=$BASE_IMAGE bash deploy/build-base-image.sh
else
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "BASE_IMAGE $BASE_IMAGE does not exist"
fi

# --- 2. the container with a fresh clone ----------------------------------------------------------
# What --privileged gives, less the capabilities this host cannot grant (a sandboxed host may lack
# some, and --privileged then fails with "unable to apply caps"): the tests create network
# namespaces and veth pairs, shape links with tc, and mount.
CAP_NAMES=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
  NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT
  SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE
  AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ)
bounding=$((16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status)))
PRIVILEGES=(--cap-add ALL --security-opt seccomp=unconfined --security-opt apparmor=unconfined
  --security-opt systempaths=unconfined)
for i in "${!CAP_NAMES[@]}"; do
  if (((bounding >> i) & 1)); then continue; fi
  PRIVILEGES+=(--cap-drop "${CAP_NAMES[$i]}")
done
commit=$(git rev-parse HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  say "note: uncommitted changes in this checkout are not part of this run (it tests commit ${commit:0:12})"
fi
git clone -q "$PWD" "$work/clone"
git -C "$work/clone" checkout -q --detach "$commit"
mkdir -p "$APT_CACHE"
say "container $CONTAINER from $BASE_IMAGE, commit ${commit:0:12} cloned into $CHECKOUT (apt downloads cached in $APT_CACHE)"
# This machine's network settings come along, as they would be on any machine behind the same
# network: the CAs it added locally (a TLS-intercepting proxy to the npm registry) and Node's
# NODE_EXTRA_CA_CERTS. Nothing of ours.
NETWORK_ENV=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then NETWORK_ENV+=(-e "NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS"); fi
docker run -d --name "$CONTAINER" "${PRIVILEGES[@]}" --network host --shm-size "${FRESH_MACHINE_SHM:-2g}" \
  "${NETWORK_ENV[@]}" -v "$APT_CACHE:/var/cache/apt/archives" "$BASE_IMAGE" sleep infinity >/dev/null
# The base image's apt settings for small images (no Recommends) are ours, not Debian's defaults.
docker exec "$CONTAINER" rm -f /etc/apt/apt.conf.d/90qemu-webrtc
local_cas=(/usr/local/share/ca-certificates/*.crt)
if [ -f "${local_cas[0]}" ]; then
  say "this machine's local CAs into the container: ${local_cas[*]##*/}"
  for crt in "${local_cas[@]}"; do docker cp "$crt" "$CONTAINER:/usr/local/share/ca-certificates/"; done
  docker exec "$CONTAINER" update-ca-certificates >/dev/null
fi
docker cp "$work/clone" "$CONTAINER:$CHECKOUT"

left_running() {
  local init
  init=$(docker inspect -f '{{.State.Pid}}' "$CONTAINER")
  docker top "$CONTAINER" -eo pid,args | awk -v init="$init" 'NR > 1 && $1 != init'
}

# --- 3. the test command --------------------------------------------------------------------------
say "in the container: bash scripts/test.sh (the README's test command; its output follows, indented)"
phase_start=$(date +%s)
inner=0
docker exec -w "$CHECKOUT" \
  -e QEMU_WEBRTC_SKIP_DOCKER_STAGES="this run is the fresh-machine stage's, inside its container (no Docker engine there)" \
  "$CONTAINER" bash scripts/test.sh 2>&1 | tee "$work/test-command.log" | sed -u 's/^/    /' || inner=$?
failures=()
if [ "$inner" -ne 0 ]; then
  if [ ! -s "$work/test-command.log" ]; then
    failures+=("\`bash scripts/test.sh\` exited $inner after $(elapsed "$phase_start") and printed NOTHING: a silent exit that a new user cannot act on")
  else
    failures+=("\`bash scripts/test.sh\` exited $inner after $(elapsed "$phase_start"): see its output above")
  fi
  say "FAILED: ${failures[-1]}"
else
  say "bash scripts/test.sh passed in the container in $(elapsed "$phase_start")"
fi
left=$(left_running)
if [ -n "$left" ]; then
  failures+=("the test command left processes running in the container: $left")
  say "FAILED: ${failures[-1]}"
fi

# --- 4. the start command, seen from outside ------------------------------------------------------
# Also after a failed test command: what a user who goes on to the start command would see.
say "in the container: bash scripts/start.sh (the README's start command); Chromium watches from outside"
phase_start=$(date +%s)
if FRESH_MACHINE_CONTAINER=$CONTAINER FRESH_MACHINE_CHECKOUT=$CHECKOUT pnpm test fresh-machine-start; then
  say "the start command passed in $(elapsed "$phase_start")"
else
  failures+=("the start command failed after $(elapsed "$phase_start"): see above")
  say "FAILED: ${failures[-1]}"
fi

if [ ${#failures[@]} -gt 0 ]; then
  die "the README's commands FAILED on a fresh Debian 12:$(printf '\n  - %s' "${failures[@]}")"
fi

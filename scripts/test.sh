#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, then runs every test: `pnpm test`,
# then the docker stages: deploy (deploy/test/run.sh: the docker compose stack brought up for
# real) and fresh-machine (test/fresh-machine/run.sh: the README's two commands on a clean Debian 12
# container). The run fails if any of them fails.
# With arguments, only `pnpm test <filters>` runs (`scripts/test.sh deploy-compose` needs the
# stage's preparation: run deploy/test/run.sh for that).
# QEMU_WEBRTC_SKIP_DOCKER_STAGES=REASON skips both docker stages and says so with REASON: the
# fresh-machine stage sets it for the test command it runs inside its container (no Docker engine
# there, and the stage must not recurse into itself).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
if [ $# -gt 0 ]; then exec pnpm test "$@"; fi
status=0
pnpm test || status=$?
if [ -n "${QEMU_WEBRTC_SKIP_DOCKER_STAGES:-}" ]; then
  printf '\033[1m[test]\033[0m SKIPPED the docker stages (deploy, fresh-machine): %s\n' "$QEMU_WEBRTC_SKIP_DOCKER_STAGES"
  exit "$status"
fi
bash deploy/test/run.sh || status=$?
bash test/fresh-machine/run.sh || status=$?
exit "$status"

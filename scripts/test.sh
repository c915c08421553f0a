#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, then runs every test: `pnpm test`,
# then the deploy stage (deploy/test/run.sh: the docker compose stack brought up for real).
# With arguments, only `pnpm test <filters>` runs (`scripts/test.sh deploy-compose` needs the
# stage's preparation: run deploy/test/run.sh for that).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
if [ $# -gt 0 ]; then exec pnpm test "$@"; fi
status=0
pnpm test || status=$?
bash deploy/test/run.sh || status=$?
exit "$status"

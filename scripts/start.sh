#!/usr/bin/env bash
# The README's start command: installs what is needed, builds, then starts the whole system
# (with the bundled demo VM unless a VM's D-Bus address is given). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec node scripts/start.mjs "$@"

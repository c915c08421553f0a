#!/usr/bin/env bash
# The README's start command: installs what is needed and builds (scripts/setup.sh), then starts the
# whole system (with the bundled demo VM unless a VM's D-Bus address is given). Setup is skipped
# when nothing changed since it last finished (scripts/build-stamp.mjs); --rebuild forces it.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
args=() rebuild=0
for a in "$@"; do
  case "$a" in
    --rebuild) rebuild=1 ;;
    -h | --help) exec node scripts/start.mjs --help ;;
    *) args+=("$a") ;;
  esac
done
say() { printf '\033[1m[start]\033[0m %s\n' "$*"; }
if [ "$rebuild" = 1 ]; then
  say "--rebuild: running setup and the build"
  bash scripts/setup.sh
elif why=$(node scripts/build-stamp.mjs check 2>&1); then
  say "$why: setup and build skipped (--rebuild forces them)"
else
  say "$why: running setup and the build"
  bash scripts/setup.sh
fi
exec node scripts/start.mjs "${args[@]}"

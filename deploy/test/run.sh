#!/usr/bin/env bash
# The deploy stage of the README's test command (scripts/test.sh runs it after `pnpm test`):
#   1. starts a Docker engine when none answers (and stops it at the end),
#   2. builds the base image locally (deploy/build-base-image.sh: no registry is needed),
#   3. builds the compose images (deploy/docker-compose.yml, BASE_IMAGE = that base),
#   4. runs test/tests/deploy-compose.test.ts: the stack up with two encoders next to the test guest
#      in QEMU, video in headless Chromium, one encoder killed, `down -v`.
# Whatever fails, the trap removes what is left of the compose project (containers, networks,
# volumes) and stops the engine it started. Images stay cached for the next run.
#
#   bash deploy/test/run.sh
# Environment: DEPLOY_TEST_COMPOSE (default: docker-compose if installed, else "docker compose"),
#   BASE_IMAGE (default qemu-webrtc-base:bookworm, built here when missing), DOCKERD_STORAGE_DRIVER
#   (default: overlay2, falling back to vfs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PROJECT=qwdeploytest$$
BASE_IMAGE=${BASE_IMAGE:-qemu-webrtc-base:bookworm}
work=$(mktemp -d /tmp/qw-deploy-stage.XXXXXX)
stage_start=$(date +%s)

say() { printf '\033[1m[deploy-test]\033[0m %s\n' "$*"; }
die() { echo "deploy-test: $*" >&2; exit 1; }
elapsed() { echo "$(($(date +%s) - stage_start)) s"; }
# shellcheck source=deploy/test/docker-engine.sh
. deploy/test/docker-engine.sh

cleanup() {
  local status=$?
  set +e
  if [ -n "$DOCKER_ENGINE_PID" ] || docker info >/dev/null 2>&1; then
    local filter="label=com.docker.compose.project=$PROJECT"
    local ids
    ids=$(docker ps -aq --filter "$filter")
    if [ -n "$ids" ]; then
      say "removing what is left of project $PROJECT"
      # shellcheck disable=SC2086
      docker rm -f $ids >/dev/null
    fi
    ids=$(docker network ls -q --filter "$filter")
    # shellcheck disable=SC2086
    [ -z "$ids" ] || docker network rm $ids >/dev/null
    ids=$(docker volume ls -q --filter "$filter")
    # shellcheck disable=SC2086
    [ -z "$ids" ] || docker volume rm -f $ids >/dev/null
  fi
  docker_engine_stop
  rm -rf "$work"
  if [ "$status" -eq 0 ]; then say "passed in $(elapsed)"; else say "FAILED (exit $status) after $(elapsed)"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

command -v docker >/dev/null || die "docker is not installed (bash scripts/setup.sh installs docker.io)"
if [ -n "${DEPLOY_TEST_COMPOSE:-}" ]; then
  COMPOSE=$DEPLOY_TEST_COMPOSE
elif command -v docker-compose >/dev/null; then
  COMPOSE=docker-compose
elif docker compose version >/dev/null 2>&1; then
  COMPOSE="docker compose"
else
  die "neither docker-compose nor docker compose is installed (bash scripts/setup.sh installs docker-compose)"
fi

# --- 1. a Docker engine -------------------------------------------------------------------------
docker_engine_ensure "$work"

# --- 2. the base image --------------------------------------------------------------------------
# The image build trusts the CAs this host added locally (a TLS-intercepting proxy between this
# machine and the npm registry would otherwise fail it): deploy/extra-ca/ (not committed).
find /usr/local/share/ca-certificates -name '*.crt' -type f 2>/dev/null | while read -r crt; do
  cmp -s "$crt" "deploy/extra-ca/$(basename "$crt")" || cp "$crt" deploy/extra-ca/
done
say "base image $BASE_IMAGE"
if [ "$BASE_IMAGE" = qemu-webrtc-base:bookworm ]; then
  IMAGE=$BASE_IMAGE bash deploy/build-base-image.sh
else
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "BASE_IMAGE $BASE_IMAGE does not exist"
fi

# --- 3. the images ------------------------------------------------------------------------------
# Only what the build interpolates: the passwords are required by the file, never used by a build.
cat >"$work/build.env" <<ENV
BASE_IMAGE=$BASE_IMAGE
BUILD_NETWORK=host
NATS_CAPTURE_PASSWORD=unused
NATS_ENCODER_PASSWORD=unused
NATS_SIGNALING_PASSWORD=unused
NATS_INPUT_PASSWORD=unused
ENV
say "building the images with $COMPOSE (full log kept until the stage ends)"
build_start=$(date +%s)
# shellcheck disable=SC2086
if ! $COMPOSE --env-file "$work/build.env" -p "$PROJECT" -f deploy/docker-compose.yml build --force-rm 2>&1 |
  tee "$work/build.log" | while IFS= read -r line; do
    case $line in "Building dependency"*) ;; "Building "* | "Successfully tagged "*) printf '  %4d s  %s\n' "$(($(date +%s) - build_start))" "$line" ;; esac
  done; then
  tail -60 "$work/build.log" >&2
  die "the image build failed (last lines above)"
fi
say "images built in $(($(date +%s) - build_start)) s"
docker images --format '  {{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^  qemu-webrtc-' || true

# --- 4. the stack, for real ---------------------------------------------------------------------
say "bringing the stack up (project $PROJECT)"
DEPLOY_TEST_PROJECT=$PROJECT DEPLOY_TEST_COMPOSE=$COMPOSE pnpm test deploy-compose

# shellcheck shell=bash
# Sourced by the docker test stages (deploy/test/run.sh, test/fresh-machine/run.sh): a Docker
# engine for the stage. The caller defines say() and die().
#
#   docker_engine_ensure LOG_DIR   uses the engine that answers, or starts one (needs root):
#                                  dockerd --iptables=false, storage driver overlay2, falling back
#                                  to vfs (DOCKERD_STORAGE_DRIVER chooses); sets DOCKER_ENGINE_PID
#   docker_engine_stop             stops the engine docker_engine_ensure started, if any
#
# Works with Debian's docker.io client and with a newer client earlier on PATH (API negotiation).

DOCKER_ENGINE_PID=

_docker_engine_start() {
  local driver=$1 log=$2
  # --iptables=false: no NAT or filter rules (none may be possible here). Builds and containers
  # that need the network use the host's (--network host); published ports go through
  # docker-proxy; the host reaches the containers' bridge addresses directly. setsid: a Ctrl-C
  # reaches the stage's trap, not the engine.
  setsid dockerd --storage-driver="$driver" --iptables=false >"$log" 2>&1 &
  DOCKER_ENGINE_PID=$!
  for _ in $(seq 120); do
    if docker info >/dev/null 2>&1; then return 0; fi
    kill -0 "$DOCKER_ENGINE_PID" 2>/dev/null || break
    sleep 0.5
  done
  kill -TERM "$DOCKER_ENGINE_PID" 2>/dev/null || true
  wait "$DOCKER_ENGINE_PID" 2>/dev/null || true
  DOCKER_ENGINE_PID=
  tail -5 "$log" >&2
  return 1
}

docker_engine_ensure() {
  local log_dir=$1 driver
  command -v docker >/dev/null || die "docker is not installed (bash scripts/setup.sh installs docker.io)"
  if docker info >/dev/null 2>&1; then
    say "using the running Docker engine ($(docker info -f '{{.ServerVersion}}, {{.Driver}}'))"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "no Docker engine answers, and starting one needs root"
  command -v dockerd >/dev/null || die "dockerd is not installed (bash scripts/setup.sh installs docker.io)"
  for driver in ${DOCKERD_STORAGE_DRIVER:-overlay2 vfs}; do
    say "starting a Docker engine (storage driver $driver)"
    if _docker_engine_start "$driver" "$log_dir/dockerd-$driver.log"; then return 0; fi
    say "the engine did not start with $driver"
  done
  die "could not start a Docker engine"
}

docker_engine_stop() {
  [ -n "$DOCKER_ENGINE_PID" ] || return 0
  say "stopping the Docker engine this stage started"
  kill -TERM "$DOCKER_ENGINE_PID" 2>/dev/null
  for _ in $(seq 60); do
    kill -0 "$DOCKER_ENGINE_PID" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL "$DOCKER_ENGINE_PID" 2>/dev/null
  DOCKER_ENGINE_PID=
  return 0
}

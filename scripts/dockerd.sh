#!/usr/bin/env bash
# A private Docker daemon for the container tests (DESIGN §6): its own socket, data root and exec
# root, no bridge, no iptables, so it never touches the host's network. Usage: start|stop|status.
# Idempotent: `start` on a running daemon only checks that it answers.
set -euo pipefail

SOCK="${SWITCHYARD_DOCKER_SOCKET:-/run/switchyard-docker.sock}"
DATA_ROOT="${SWITCHYARD_DOCKER_DATA_ROOT:-/var/lib/switchyard-docker}"
EXEC_ROOT=/run/switchyard-docker
PIDFILE=/run/switchyard-docker.pid
LOG="${SWITCHYARD_DOCKER_LOG:-/var/log/switchyard-dockerd.log}"

answers() { docker -H "unix://$SOCK" info >/dev/null 2>&1; }

running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# overlay2 needs an overlay mount on the data root's file system; inside some sandboxes that is
# refused (or the data root is itself on overlayfs), so try one and fall back to vfs.
storage_driver() {
  if [[ -n "${SWITCHYARD_DOCKER_STORAGE_DRIVER:-}" ]]; then
    echo "$SWITCHYARD_DOCKER_STORAGE_DRIVER"
    return
  fi
  mkdir -p "$DATA_ROOT"
  local t
  t="$(mktemp -d "$DATA_ROOT/.overlay-probe.XXXXXX")"
  mkdir -p "$t/lower" "$t/upper" "$t/work" "$t/merged"
  echo ok >"$t/lower/probe"
  local driver=vfs
  if mount -t overlay overlay -o "lowerdir=$t/lower,upperdir=$t/upper,workdir=$t/work" "$t/merged" 2>/dev/null; then
    if [[ "$(cat "$t/merged/probe" 2>/dev/null)" == ok ]]; then driver=overlay2; fi
    umount "$t/merged" || true
  fi
  rm -rf "$t"
  echo "$driver"
}

start() {
  if answers; then
    echo "dockerd answers on $SOCK"
    return 0
  fi
  if pid="$(running_pid)"; then
    echo "dockerd (pid $pid) is running but does not answer yet; waiting"
  else
    command -v dockerd >/dev/null || { echo "dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
    local driver
    driver="$(storage_driver)"
    mkdir -p "$DATA_ROOT" "$EXEC_ROOT" "$(dirname "$LOG")"
    echo "starting dockerd on $SOCK (storage driver $driver, log $LOG)"
    # setsid: the daemon outlives the shell that started it and gets no terminal signals.
    setsid dockerd \
      --host "unix://$SOCK" \
      --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
      --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" --pidfile "$PIDFILE" \
      --storage-driver "$driver" \
      >>"$LOG" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 60); do
    if answers; then
      echo "dockerd answers on $SOCK"
      return 0
    fi
    sleep 0.5
  done
  echo "dockerd did not answer on $SOCK within 30 s; last log lines:" >&2
  tail -n 30 "$LOG" >&2 || true
  exit 1
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    echo "dockerd is not running"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { echo "dockerd stopped"; return 0; }
    sleep 0.5
  done
  echo "dockerd (pid $pid) did not stop within 30 s; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

status() {
  if answers; then
    echo "dockerd answers on $SOCK ($(docker -H "unix://$SOCK" info --format '{{.Driver}}' 2>/dev/null) storage)"
  elif pid="$(running_pid)"; then
    echo "dockerd (pid $pid) is running but does not answer on $SOCK"
    return 1
  else
    echo "dockerd is not running"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Local etcd for development: start (the default) | stop | status | install.
#   npm run etcd                 # = bash scripts/etcd.sh start
#   npm run etcd -- stop         # = bash scripts/etcd.sh stop
# Runs a single node on 127.0.0.1:2379 (peer 2380) with data in <repo>/.etcd/ (never systemd).
# The etcd it starts runs in its own session (setsid): Ctrl-C or a closed terminal in the shell
# that started it (e.g. `npm start`) never reaches it; it lives until `stop`.
#
# Environment:
#   ETCD_HOSTS           endpoint checked by start/status (default http://127.0.0.1:2379); when it
#                        is one http://127.0.0.1:<port> (or localhost) URL, start listens on <port>
#   NEST_ETCD_PEER_PORT  peer port of the etcd started here (default 2380)
#   NEST_ETCD_STATE_DIR  data, log and pid file (default <repo>/.etcd)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
STATE_DIR="${NEST_ETCD_STATE_DIR:-$REPO/.etcd}"
DATA_DIR="$STATE_DIR/data"
LOG_FILE="$STATE_DIR/etcd.log"
PID_FILE="$STATE_DIR/etcd.pid"
HOSTS="${ETCD_HOSTS:-http://127.0.0.1:2379}"
CLIENT_PORT=2379
if [[ "$HOSTS" =~ ^http://(127\.0\.0\.1|localhost):([0-9]+)/?$ ]]; then
  CLIENT_PORT="${BASH_REMATCH[2]}"
fi
CLIENT_URL="http://127.0.0.1:$CLIENT_PORT"
PEER_URL="http://127.0.0.1:${NEST_ETCD_PEER_PORT:-2380}"

export ETCDCTL_API=3

usage() {
  echo "usage: $(basename "$0") [start|stop|status|install]   (default: start)" >&2
  echo "  npm run etcd [-- start|stop|status|install]" >&2
  echo "  ETCD_HOSTS (default http://127.0.0.1:2379) is the endpoint checked by start/status." >&2
}

install_help() {
  cat >&2 <<'MSG'
etcd is not installed. Install it with one of:
  Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y etcd-server etcd-client
  macOS:          brew install etcd
  Docker:         docker compose up -d etcd
Then run this script again.
MSG
}

# healthy <endpoints>: 0 when etcdctl reports the endpoint healthy.
healthy() {
  command -v etcdctl >/dev/null 2>&1 || return 1
  etcdctl --endpoints="$1" --dial-timeout=1s --command-timeout=2s endpoint health >/dev/null 2>&1
}

# our_pid: prints the pid from .etcd/etcd.pid when that process is alive and is an etcd we started.
our_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Make sure the pid was not recycled by an unrelated process.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -- "--data-dir=$DATA_DIR" >/dev/null || return 1
  else
    ps -p "$pid" -o command= 2>/dev/null | grep -- "--data-dir=$DATA_DIR" >/dev/null || return 1
  fi
  echo "$pid"
}

cmd_install() {
  if command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; then
    echo "etcd already installed: $(command -v etcd) ($(etcd --version 2>/dev/null | head -n1))"
    return 0
  fi
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing etcd with apt-get..."
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server etcd-client
    # The Debian package may start a systemd service on 2379; we never rely on it.
    return 0
  fi
  install_help
  exit 1
}

# detached <command...>: replaces the calling (background) shell with the command in a new session
# (no controlling terminal, own process group): setsid on Linux, perl's POSIX::setsid elsewhere
# (macOS has no setsid binary). exec matters: a subshell left waiting for etcd would stay in the
# terminal's process group.
detached() {
  if command -v setsid >/dev/null 2>&1; then
    exec setsid "$@"
  elif command -v perl >/dev/null 2>&1; then
    exec perl -MPOSIX -e 'POSIX::setsid(); exec @ARGV or die "exec $ARGV[0]: $!\n"' -- "$@"
  else
    echo "neither setsid nor perl found: etcd stays in this terminal's process group (Ctrl-C stops it)" >&2
    exec nohup "$@"
  fi
}

cmd_start() {
  if healthy "$HOSTS"; then
    if pid="$(our_pid)"; then
      echo "etcd already running (ours, pid $pid) at $HOSTS"
    else
      echo "etcd already answering at $HOSTS (not started by this script); using it"
    fi
    return 0
  fi
  if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
    cmd_install
  fi
  if pid="$(our_pid)"; then
    echo "our etcd (pid $pid) is running but not healthy at $HOSTS; see $LOG_FILE" >&2
    exit 1
  fi
  mkdir -p "$DATA_DIR"
  chmod 700 "$DATA_DIR"
  echo "Starting etcd on $CLIENT_URL (data: $DATA_DIR, log: $LOG_FILE)"
  # etcd reads ETCD_* variables as flags (ETCD_HOSTS, ETCD_USERNAME... are not): keep them out.
  local unset_env=()
  local name
  while IFS= read -r name; do unset_env+=(-u "$name"); done < <(env | grep -oE '^ETCD[A-Z0-9_]*' || true)
  rm -f "$PID_FILE"
  # In its own session (setsid), so the terminal's Ctrl-C (SIGINT to the foreground process group)
  # and SIGHUP never reach it. The child writes its own pid: setsid may fork.
  detached env ${unset_env[@]+"${unset_env[@]}"} bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" etcd \
    --name=nest-etcd-dev \
    --data-dir="$DATA_DIR" \
    --listen-client-urls="$CLIENT_URL" \
    --advertise-client-urls="$CLIENT_URL" \
    --listen-peer-urls="$PEER_URL" \
    --initial-advertise-peer-urls="$PEER_URL" \
    --initial-cluster="nest-etcd-dev=$PEER_URL" \
    --initial-cluster-state=new \
    --logger=zap \
    --log-level=warn \
    >>"$LOG_FILE" 2>&1 </dev/null &
  local pid="" i
  for i in $(seq 1 40); do
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && break
    sleep 0.05
  done
  if ! [[ "$pid" =~ ^[0-9]+$ ]]; then
    echo "etcd did not start (no pid written to $PID_FILE); see $LOG_FILE" >&2
    exit 1
  fi
  for i in $(seq 1 40); do
    if healthy "$CLIENT_URL"; then
      echo "etcd is up (pid $pid): $CLIENT_URL"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "etcd exited during startup; last log lines:" >&2
      tail -n 20 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      exit 1
    fi
    sleep 0.25
  done
  echo "etcd (pid $pid) not healthy after 10 s; see $LOG_FILE" >&2
  exit 1
}

cmd_stop() {
  local pid
  if ! pid="$(our_pid)"; then
    rm -f "$PID_FILE"
    echo "no etcd started by this script is running"
    return 0
  fi
  kill -TERM "$pid"
  local i
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "etcd (pid $pid) ignored SIGTERM for 5 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  echo "stopped etcd (pid $pid)"
}

cmd_status() {
  local pid owner
  if pid="$(our_pid)"; then owner="ours (pid $pid)"; else owner="not started by this script"; fi
  if healthy "$HOSTS"; then
    echo "healthy: $HOSTS ($owner)"
  else
    echo "not healthy: $HOSTS ($owner)"
    return 1
  fi
}

case "${1:-start}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  -h | --help | help) usage ;;
  *)
    usage
    exit 2
    ;;
esac

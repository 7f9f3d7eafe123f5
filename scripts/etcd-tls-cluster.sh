#!/usr/bin/env bash
# A production-shaped etcd for trying nest-etcd locally: 3 members, TLS everywhere (clients and
# peers, client certificates required), auth on (a root user). docs/production.md walks through it;
# test/e2e/module/production-cluster.spec.ts runs it in CI.
#
#   bash scripts/etcd-tls-cluster.sh start    # certificates (once), 3 members, root user, auth enable
#   eval "$(bash scripts/etcd-tls-cluster.sh env)"   # ETCD_HOSTS, ETCD_CA_FILE, ..., ETCDCTL_* for etcdctl
#   bash scripts/etcd-tls-cluster.sh status
#   bash scripts/etcd-tls-cluster.sh stop     # stops the members, keeps data and certificates
#   bash scripts/etcd-tls-cluster.sh clean    # stop + delete the directory
#
# Environment:
#   ETCD_TLS_DIR           certificates, data, logs, pids, root.password (default <repo>/.etcd-tls)
#   ETCD_TLS_CLIENT_PORTS  three client ports, comma separated (default 23791,23792,23793)
#   ETCD_TLS_PEER_PORTS    three peer ports, comma separated (default 23891,23892,23893)
#   ETCD_ROOT_PASSWORD     root's password on first start (default: random, kept in root.password, 0600)
# Every member runs in its own session (setsid): it lives until `stop`.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
DIR="${ETCD_TLS_DIR:-$REPO/.etcd-tls}"
IFS=',' read -r -a CLIENT_PORTS <<<"${ETCD_TLS_CLIENT_PORTS:-23791,23792,23793}"
IFS=',' read -r -a PEER_PORTS <<<"${ETCD_TLS_PEER_PORTS:-23891,23892,23893}"
NAMES=(m0 m1 m2)
export ETCDCTL_API=3

die() {
  echo "etcd-tls-cluster: $*" >&2
  exit 1
}

[[ ${#CLIENT_PORTS[@]} -eq 3 && ${#PEER_PORTS[@]} -eq 3 ]] ||
  die "ETCD_TLS_CLIENT_PORTS and ETCD_TLS_PEER_PORTS need three ports each"

endpoints() {
  local list=() port
  for port in "${CLIENT_PORTS[@]}"; do list+=("https://127.0.0.1:$port"); done
  (
    IFS=,
    echo "${list[*]}"
  )
}

ctl() {
  local user=()
  [[ -f "$DIR/root.password" ]] && user=(env "ETCDCTL_USER=root:$(cat "$DIR/root.password")")
  "${user[@]}" etcdctl --endpoints="$(endpoints)" --cacert="$DIR/ca.crt" --cert="$DIR/client.crt" \
    --key="$DIR/client.key" --dial-timeout=2s --command-timeout=5s "$@"
}

# certificates: one CA; a server/peer certificate for 127.0.0.1, ::1 and localhost; a client
# certificate whose CN is no etcd user (so the certificate alone grants nothing).
certificates() {
  [[ -f "$DIR/client.key" ]] && return 0
  command -v openssl >/dev/null 2>&1 || die "openssl is needed to make the certificates"
  mkdir -p "$DIR"
  (
    cd "$DIR"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 365 -sha256 -subj "/CN=nest-etcd test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout ca.key -out ca.crt 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" \
      "extendedKeyUsage=serverAuth,clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment" \
      >server.ext
    printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment" \
      >client.ext
    for name in server client; do
      openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=nest-etcd-$name" \
        -keyout "$name.key" -out "$name.csr" 2>/dev/null
      openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
        -sha256 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
    done
    rm -f ./*.csr ./*.ext ca.srl
    chmod 644 ca.crt server.crt client.crt
  )
}

pid_of() {
  local file="$DIR/$1.pid" pid
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--data-dir $DIR/$1.data" || return 1
  echo "$pid"
}

cmd_start() {
  command -v etcd >/dev/null 2>&1 || die "etcd is not installed (see scripts/etcd.sh install)"
  certificates
  local initial=() i
  for i in 0 1 2; do initial+=("${NAMES[$i]}=https://127.0.0.1:${PEER_PORTS[$i]}"); done
  local cluster
  cluster="$(
    IFS=,
    echo "${initial[*]}"
  )"
  for i in 0 1 2; do
    local name="${NAMES[$i]}"
    pid_of "$name" >/dev/null && continue
    setsid etcd --name "$name" --data-dir "$DIR/$name.data" \
      --listen-client-urls "https://127.0.0.1:${CLIENT_PORTS[$i]}" \
      --advertise-client-urls "https://127.0.0.1:${CLIENT_PORTS[$i]}" \
      --listen-peer-urls "https://127.0.0.1:${PEER_PORTS[$i]}" \
      --initial-advertise-peer-urls "https://127.0.0.1:${PEER_PORTS[$i]}" \
      --initial-cluster "$cluster" --initial-cluster-token nest-etcd-tls \
      --initial-cluster-state new \
      --cert-file "$DIR/server.crt" --key-file "$DIR/server.key" \
      --client-cert-auth --trusted-ca-file "$DIR/ca.crt" \
      --peer-cert-file "$DIR/server.crt" --peer-key-file "$DIR/server.key" \
      --peer-client-cert-auth --peer-trusted-ca-file "$DIR/ca.crt" \
      --auto-compaction-mode revision --auto-compaction-retention 10000 \
      >"$DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$DIR/$name.pid"
  done
  local deadline=$((SECONDS + 30))
  until ctl endpoint health >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "members not healthy after 30 s; logs in $DIR/m*.log"
    sleep 0.2
  done
  if [[ ! -f "$DIR/root.password" ]]; then
    (
      umask 077
      printf '%s' "${ETCD_ROOT_PASSWORD:-$(openssl rand -hex 16)}" >"$DIR/root.password"
    )
    ctl user add "root:$(cat "$DIR/root.password")" --interactive=false >/dev/null
    ctl auth enable >/dev/null
  fi
  echo "etcd TLS cluster up: $(endpoints) (auth on, root password in $DIR/root.password)"
}

cmd_env() {
  [[ -f "$DIR/ca.crt" ]] || die "not started yet: run start first"
  cat <<ENV
export ETCD_HOSTS='$(endpoints)'
export ETCD_CA_FILE='$DIR/ca.crt'
export ETCD_CERT_FILE='$DIR/client.crt'
export ETCD_KEY_FILE='$DIR/client.key'
export ETCDCTL_API=3
export ETCDCTL_ENDPOINTS='$(endpoints)'
export ETCDCTL_CACERT='$DIR/ca.crt'
export ETCDCTL_CERT='$DIR/client.crt'
export ETCDCTL_KEY='$DIR/client.key'
export ETCDCTL_USER="root:\$(cat '$DIR/root.password')"
ENV
}

cmd_status() {
  local name up=0
  for name in "${NAMES[@]}"; do
    if pid_of "$name" >/dev/null; then up=$((up + 1)); fi
  done
  echo "$up of 3 members running ($(endpoints))"
  ((up > 0)) && ctl endpoint health 2>&1 || true
  ((up == 3))
}

cmd_stop() {
  local name pid pids=()
  for name in "${NAMES[@]}"; do
    if pid="$(pid_of "$name")"; then
      kill "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$DIR/$name.pid"
  done
  local deadline=$((SECONDS + 10))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then kill -9 "$pid" 2>/dev/null || true; fi
      sleep 0.1
    done
  done
  echo "etcd TLS cluster stopped"
}

case "${1:-start}" in
  start) cmd_start ;;
  env) cmd_env ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  clean)
    cmd_stop
    rm -rf "$DIR"
    ;;
  *)
    echo "usage: $(basename "$0") start|env|status|stop|clean" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# npm start: the one command to run the sample app on a fresh machine.
#   1. installs node_modules when missing (npm ci)
#   2. starts a local etcd on 127.0.0.1:2379 (or the one ETCD_HOSTS URL) unless one answers
#      (scripts/etcd.sh; installs etcd via apt-get when run as root on Debian/Ubuntu). That etcd runs
#      in its own session: it outlives this app and this terminal's Ctrl+C.
#   3. builds and runs the sample app with the Nest CLI (nest start) on $PORT (default 3000)
# Stop the app with Ctrl+C (it deregisters itself at once); stop etcd with `npm run etcd -- stop`.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$SCRIPT_DIR/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "Node.js 22 or 24 and npm are required: https://nodejs.org/en/download (or: nvm install 24)" >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 20)); then
  echo "Node.js $(node -v) is too old: use Node.js 22 or 24." >&2
  exit 1
elif ((node_major < 22)); then
  echo "note: Node.js $(node -v) reached end of life in April 2026; nest-etcd supports Node.js 22 and 24." >&2
fi

if [[ ! -d node_modules ]]; then
  echo "==> [1/3] installing dependencies (npm ci)"
  if [[ -f package-lock.json ]]; then npm ci; else npm install; fi
else
  echo "==> [1/3] dependencies already installed (node_modules/)"
fi

echo "==> [2/3] etcd (scripts/etcd.sh start; it keeps running until: npm run etcd -- stop)"
bash scripts/etcd.sh start

echo "==> [3/3] sample app: nest start on http://localhost:${PORT:-3000} (Ctrl+C to stop)"
echo "    try: curl localhost:${PORT:-3000}/   |   etcdctl put /config/sample/greeting Hola"
exec npx nest start

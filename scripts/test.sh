#!/usr/bin/env bash
# `npm test`: every spec outside test/chaos/, in band with --detectOpenHandles (a leaked handle is
# reported by the file that leaked it), split into TEST_SHARDS (default 4) jest processes run one
# after another. One in-band jest process for all ~120 files keeps every file's module graph
# (jest's ESM loader): its heap grew to 2.3 GB in a quiet full run and the process to 21 GB in a
# run beside a CPU burner, where the last suites then crawled. A fresh process per shard bounds
# that. Every shard runs even when one fails; the exit status is non-zero when any failed.
#
# With arguments (`npm test -- test/unit/foo.spec.ts`, `npm test -- -t name`) it is one jest
# process over what they select.
set -uo pipefail
cd "$(dirname "$0")/.."
export NODE_OPTIONS="--experimental-vm-modules${NODE_OPTIONS:+ $NODE_OPTIONS}"
JEST=node_modules/.bin/jest

if [ "$#" -gt 0 ]; then
  exec "$JEST" --detectOpenHandles "$@"
fi

SHARDS="${TEST_SHARDS:-4}"
failed=()
for ((i = 1; i <= SHARDS; i++)); do
  echo "== npm test: shard $i of $SHARDS =="
  "$JEST" --detectOpenHandles --shard="$i/$SHARDS" || failed+=("$i")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "npm test: shard(s) ${failed[*]} of $SHARDS failed (their FAIL lines are above)" >&2
  exit 1
fi
echo "npm test: all $SHARDS shards passed"

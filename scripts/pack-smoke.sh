#!/usr/bin/env bash
# Proves the published package works: builds, packs the tarball, installs it into a fresh ESM app
# (with the Nest/RxJS versions this repo develops against), type-checks an import of it, then boots
# NestFactory.createApplicationContext against a real etcd and reads and writes a config key.
#
#   bash scripts/pack-smoke.sh          # starts its own etcd (etcd binary) on free ports
#   ETCD_HOSTS=http://127.0.0.1:2379 [ETCD_USERNAME=root ETCD_PASSWORD=...] bash scripts/pack-smoke.sh
#
# Exit 0 on success. Everything it creates lives in one temp dir, removed on exit.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/nest-etcd-pack-smoke.XXXXXX")"
ETCD_PID=""

cleanup() {
  local status=$?
  if [ -n "$ETCD_PID" ] && kill -0 "$ETCD_PID" 2>/dev/null; then
    kill "$ETCD_PID" 2>/dev/null || true
    wait "$ETCD_PID" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$WORK/etcd.log" ]; then
    echo "-- etcd log (last lines) --" >&2
    tail -n 20 "$WORK/etcd.log" >&2 || true
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { echo "pack-smoke: $*"; }
fail() {
  echo "pack-smoke: FAILED: $*" >&2
  exit 1
}

# version <package>: the version installed in the repo's node_modules.
version() {
  node -e 'process.stdout.write(require(process.argv[1] + "/package.json").version)' \
    "$REPO/node_modules/$1" 2>/dev/null || fail "$1 is not installed in $REPO/node_modules (run npm ci)"
}

# ---- build and pack ---------------------------------------------------------------------------
cd "$REPO"
step "npm run build"
npm run build --silent >/dev/null
for file in dist/index.js dist/index.d.ts; do
  [ -f "$file" ] || fail "npm run build did not produce $file"
done

step "npm pack"
TARBALL_NAME="$(npm pack --silent --pack-destination "$WORK" | tail -n 1)"
TARBALL="$WORK/$TARBALL_NAME"
[ -f "$TARBALL" ] || fail "npm pack did not write $TARBALL"
CONTENTS="$(tar -tzf "$TARBALL")"
for file in package/package.json package/dist/index.js package/dist/index.d.ts package/README.md package/LICENSE; do
  grep -qx "$file" <<<"$CONTENTS" || fail "$file is missing from $TARBALL_NAME"
done
if grep -E '^package/(test|bench|sample-app|lib|scripts|\.ci)/' <<<"$CONTENTS" >/dev/null; then
  fail "$TARBALL_NAME ships development files: $(grep -E '^package/(test|bench|sample-app|lib|scripts|\.ci)/' <<<"$CONTENTS" | head -3 | tr '\n' ' ')"
fi

# ---- a fresh app that depends on the tarball --------------------------------------------------
APP="$WORK/app"
mkdir -p "$APP"
cat >"$APP/package.json" <<JSON
{
  "name": "nest-etcd-pack-smoke",
  "private": true,
  "type": "module",
  "dependencies": {
    "nest-etcd": "file:../$TARBALL_NAME",
    "@nestjs/common": "$(version @nestjs/common)",
    "@nestjs/core": "$(version @nestjs/core)",
    "@nestjs/platform-express": "$(version @nestjs/platform-express)",
    "reflect-metadata": "$(version reflect-metadata)",
    "rxjs": "$(version rxjs)"
  },
  "devDependencies": {
    "@types/node": "$(version @types/node)"
  }
}
JSON
step "npm install (tarball + @nestjs/common@$(version @nestjs/common), rxjs@$(version rxjs))"
(cd "$APP" && npm install --no-audit --no-fund --prefer-offline --loglevel=error >"$WORK/npm-install.log" 2>&1) ||
  {
    cat "$WORK/npm-install.log" >&2
    fail "npm install of the tarball failed"
  }
[ -f "$APP/node_modules/nest-etcd/dist/index.js" ] || fail "nest-etcd was not installed from the tarball"

# ---- the package's types resolve from a consumer (exports.types, nodenext) --------------------
step "type-check an import of nest-etcd"
cat >"$APP/check.mts" <<'TS'
import { EtcdModule, EtcdConfigService, InvalidOptionsError, type EtcdModuleOptions } from 'nest-etcd';
const options: EtcdModuleOptions = { hosts: ['http://127.0.0.1:2379'], registry: { serviceName: 'a' } };
const mod = EtcdModule.forRoot(options);
const read = (config: EtcdConfigService): string | undefined => config.get<string>('greeting');
export { mod, read, InvalidOptionsError };
// the operator's subpaths resolve from the package's own declarations (no dev-only types)
import { EtcdAdmin, type ValidationReport } from 'nest-etcd/admin';
import { EtcdConsoleModule } from 'nest-etcd/console';
const admin = (hosts: string): Promise<EtcdAdmin> => EtcdAdmin.connect({ hosts });
const ok = (report: ValidationReport): boolean => report.ok;
const console = EtcdConsoleModule.forRoot({ path: 'etcd' });
export { admin, ok, console };
TS
cat >"$APP/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "target": "ES2022",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": false,
    "types": ["node"]
  },
  "files": ["check.mts"]
}
JSON
"$REPO/node_modules/.bin/tsc" -p "$APP/tsconfig.json" || fail "the packed types do not type-check"

# ---- subpath entries: nest-etcd/grpc loads; microservices and terminus name their missing peer ---
step "subpath entries nest-etcd/grpc, nest-etcd/microservices and nest-etcd/terminus"
(cd "$APP" && node --input-type=module -e '
  const grpc = await import("nest-etcd/grpc");
  if (typeof grpc.registerEtcdResolver !== "function") throw new Error("nest-etcd/grpc has no registerEtcdResolver");
  try {
    await import("nest-etcd/microservices");
    throw new Error("nest-etcd/microservices loaded without @nestjs/microservices installed");
  } catch (err) {
    if (!String(err.message).includes("@nestjs/microservices")) throw err;
  }
  try {
    await import("nest-etcd/terminus");
    throw new Error("nest-etcd/terminus loaded without @nestjs/terminus installed");
  } catch (err) {
    if (!String(err.message).includes("@nestjs/terminus")) throw err;
  }
') || fail "a subpath entry (nest-etcd/grpc, nest-etcd/microservices, nest-etcd/terminus) does not behave as documented"

# ---- the nest-etcd command, installed as a bin of the package -----------------------------------
step "npx nest-etcd --help from the installed package"
(cd "$APP" && npx --no-install nest-etcd --help >"$WORK/cli-help.txt") || fail "npx nest-etcd --help failed"
grep -q '^Usage: nest-etcd' "$WORK/cli-help.txt" || fail "npx nest-etcd --help printed no usage"

# ---- etcd ------------------------------------------------------------------------------------
if [ -n "${ETCD_HOSTS:-}" ]; then
  step "using etcd at $ETCD_HOSTS"
else
  command -v etcd >/dev/null 2>&1 || fail "etcd is not on PATH (bash scripts/etcd.sh install) and ETCD_HOSTS is not set"
  command -v etcdctl >/dev/null 2>&1 || fail "etcdctl is not on PATH"
  read -r CLIENT_PORT PEER_PORT < <(node -e '
    const net = require("node:net");
    const one = () => new Promise(resolve => {
      const server = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
    (async () => {
      const a = await one();
      let b = await one();
      while (b === a) b = await one();
      console.log(a, b);
    })();
  ')
  CLIENT_URL="http://127.0.0.1:$CLIENT_PORT"
  PEER_URL="http://127.0.0.1:$PEER_PORT"
  step "starting etcd on $CLIENT_URL"
  # etcd reads ETCD_* variables as flags: keep the caller's out of it
  UNSET=()
  while IFS= read -r name; do UNSET+=(-u "$name"); done < <(env | grep -oE '^ETCD[A-Z0-9_]*' || true)
  env "${UNSET[@]}" etcd \
    --name=pack-smoke --data-dir="$WORK/etcd-data" \
    --listen-client-urls="$CLIENT_URL" --advertise-client-urls="$CLIENT_URL" \
    --listen-peer-urls="$PEER_URL" --initial-advertise-peer-urls="$PEER_URL" \
    --initial-cluster="pack-smoke=$PEER_URL" --initial-cluster-state=new \
    --log-level=warn >"$WORK/etcd.log" 2>&1 &
  ETCD_PID=$!
  for _ in $(seq 1 100); do
    if ETCDCTL_API=3 etcdctl --endpoints="$CLIENT_URL" --dial-timeout=1s --command-timeout=2s \
      endpoint health >/dev/null 2>&1; then
      break
    fi
    kill -0 "$ETCD_PID" 2>/dev/null || fail "etcd exited during startup"
    sleep 0.2
  done
  ETCDCTL_API=3 etcdctl --endpoints="$CLIENT_URL" endpoint health >/dev/null 2>&1 ||
    fail "etcd on $CLIENT_URL did not become healthy"
  export ETCD_HOSTS="$CLIENT_URL"
  unset ETCD_USERNAME ETCD_PASSWORD
fi

PREFIX="/nest-etcd-pack-smoke/$$-$RANDOM/"
export SMOKE_PREFIX="$PREFIX"
if [ -n "$ETCD_PID" ]; then
  # written by an outside writer before boot: the app must see it when init() returns
  printf 'hello from etcdctl' | ETCDCTL_API=3 etcdctl --endpoints="$ETCD_HOSTS" put -- "${PREFIX}greeting" >/dev/null
  export SMOKE_EXPECT_GREETING='hello from etcdctl'
fi

# ---- boot the app against etcd ----------------------------------------------------------------
cat >"$APP/main.mjs" <<'JS'
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EtcdConfigService, EtcdModule } from 'nest-etcd';

const prefix = process.env.SMOKE_PREFIX;
class AppModule {}
// hosts and credentials come from ETCD_HOSTS / ETCD_USERNAME / ETCD_PASSWORD
Module({ imports: [EtcdModule.forRoot({ config: { prefix }, connectTimeout: 10_000 })] })(AppModule);

const watchdog = setTimeout(() => {
  console.error('pack-smoke app: no result within 60 s');
  process.exit(1);
}, 60_000);
watchdog.unref();

const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
try {
  const config = app.get(EtcdConfigService);
  const expected = process.env.SMOKE_EXPECT_GREETING;
  if (expected !== undefined && config.get('greeting') !== expected) {
    throw new Error(`greeting at boot: expected ${JSON.stringify(expected)}, got ${JSON.stringify(config.get('greeting'))}`);
  }
  const seen = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the watch did not deliver the write')), 10_000);
    const subscription = config.watch('answer').subscribe(value => {
      if (value?.n === 42) {
        clearTimeout(timer);
        subscription.unsubscribe();
        resolve(value);
      }
    });
  });
  await config.set('answer', { n: 42 });
  await seen;
  if (config.get('answer')?.n !== 42) throw new Error('get() did not return the written value');
  await config.delete('answer');
  if (expected !== undefined) await config.delete('greeting');
  console.log(`pack-smoke app: read ${expected === undefined ? '' : 'greeting, '}wrote and watched answer under ${prefix}`);
} finally {
  await app.close();
}
JS
step "booting NestFactory.createApplicationContext from the installed package"
(cd "$APP" && node main.mjs) || fail "the app built on the packed package did not work"
step "OK ($TARBALL_NAME)"

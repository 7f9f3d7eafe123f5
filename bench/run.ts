/**
 * `npm run bench [-- --quick] [-- --only=configRead,propagation] [-- --out=path.json]`
 *
 * Starts its own etcd (test/support EtcdServer), runs every scenario against it, measuring the raw
 * etcd3 client in the same run where there is a baseline, prints a table and writes
 * bench/results/latest.json (a `--quick` or `--only` run writes bench/results/latest.tmp.json).
 */
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { Etcd3 } from 'etcd3';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { EtcdServer } from '../test/support/index.js';
import {
  type BenchContext,
  BENCH_DIR,
  interrupted,
  now,
  onSignalDispose,
  round,
} from './bench-utils.js';
import { adminStatus, type AdminStatusResult } from './scenarios/admin-status.js';
import { calls, type CallsResult } from './scenarios/calls.js';
import { consolePages, type ConsoleResult } from './scenarios/console.js';
import { configDocuments, type ConfigDocumentsResult } from './scenarios/config-documents.js';
import { configRead, type ConfigReadResult } from './scenarios/config-read.js';
import { failureDetection, type FailureDetectionResult } from './scenarios/failure-detection.js';
import { fleet, type FleetResult } from './scenarios/fleet.js';
import { propagation, type PropagationResult } from './scenarios/propagation.js';
import { registryConvergence, type RegistryResult } from './scenarios/registry.js';
import { scale, type ScaleResult } from './scenarios/scale.js';
import { startup, type StartupResult } from './scenarios/startup.js';
import { statusWriter, type StatusWriterResult } from './scenarios/status-writer.js';

interface Results {
  machine: string;
  node: string;
  etcd: string;
  date: string;
  mode: 'full' | 'quick';
  durationSec?: number;
  configRead?: ConfigReadResult;
  propagation?: PropagationResult;
  configDocuments?: ConfigDocumentsResult;
  registry?: RegistryResult;
  failureDetection?: FailureDetectionResult;
  scale?: ScaleResult;
  startup?: StartupResult;
  calls?: CallsResult;
  fleet?: FleetResult;
  adminStatus?: AdminStatusResult;
  statusWriter?: StatusWriterResult;
  console?: ConsoleResult;
  targets?: Record<string, { target: string; value: number; met: boolean }>;
  errors?: Record<string, string>;
}

const SCENARIOS = {
  configRead,
  propagation,
  configDocuments,
  registry: registryConvergence,
  failureDetection,
  scale,
  startup,
  calls,
  fleet,
  adminStatus,
  statusWriter,
  console: consolePages,
} as const;
type ScenarioName = keyof typeof SCENARIOS;

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.find(a => a.startsWith('--only='))?.slice('--only='.length);
const outArg = args.find(a => a.startsWith('--out='))?.slice('--out='.length);
const only = onlyArg ? (onlyArg.split(',') as ScenarioName[]) : undefined;
for (const name of only ?? []) {
  if (!(name in SCENARIOS)) {
    console.error(`unknown scenario "${name}"; known: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
}
const outFile =
  outArg ?? join(BENCH_DIR, 'results', quick || only ? 'latest.tmp.json' : 'latest.json');

// Budget: the whole run must end (and clean up) even if something hangs. The fleet scenario boots
// two fleets of Nest apps on clusters of their own: it gets minutes of its own.
const withFleet = !only || only.includes('fleet');
const budgetMs = (quick ? 2 * 60_000 : 10 * 60_000) + (withFleet ? (quick ? 6 : 25) * 60_000 : 0);
const watchdog = setTimeout(() => {
  console.error(`bench exceeded its ${budgetMs / 60_000} min budget; stopping`);
  process.exit(3);
}, budgetMs - 5_000);
watchdog.unref();
// Exit hooks (test/support and bench-utils) kill etcd and child apps; make signals run them.
let etcdServer: EtcdServer | undefined;
onSignalDispose(() => etcdServer);

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function machine(): string {
  const cpu = cpus();
  return `${hostname()}: ${cpu.length} x ${cpu[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${type()} ${release()}`;
}

function evaluateTargets(r: Results): NonNullable<Results['targets']> {
  const t: NonNullable<Results['targets']> = {};
  const add = (
    name: string,
    target: string,
    value: number | undefined,
    met: (v: number) => boolean,
  ) => {
    if (value !== undefined) t[name] = { target, value: round(value, 3), met: met(value) };
  };
  add('configRead.ratio', '>= 1000', r.configRead?.ratio, v => v >= 1000);
  // Propagation: one decode and one copy per value bring the module within 5 % of raw.
  add('propagation.p50Ratio', '<= 1.05', r.propagation?.p50Ratio, v => v <= 1.05);
  add('propagation.p99Ratio', '<= 1.1', r.propagation?.p99Ratio, v => v <= 1.1);
  add(
    'configDocuments.folder.p50Ratio',
    '<= 1.2',
    r.configDocuments?.folder.p50Ratio,
    v => v <= 1.2,
  );
  add('configDocuments.yaml.p50Ratio', '<= 1.2', r.configDocuments?.yaml.p50Ratio, v => v <= 1.2);
  add('scale.tcpConnections', '== 1', r.scale?.tcpConnections, v => v === 1);
  add('scale.loadMs', '< 1000 (10k keys)', r.scale?.loadMs, v => v < 1000);
  add('registry.deregisterP99Ms', '< 50', r.registry?.deregisterP99Ms, v => v < 50);
  add('startup.overheadMs', '< 50', r.startup?.overheadMs, v => v < 50);
  add('calls.rollingFailed', '== 0', r.calls?.rollingFailed, v => v === 0);
  // registry.fetch's tail within 20 % of a direct fetch (median of the rounds' p99 ratios).
  add('calls.p99Ratio', '<= 1.2', r.calls?.p99Ratio, v => v <= 1.2);
  // Every console page in < 100 ms for 200 instances and 500 keys.
  add('console.slowestP50Ms', '< 100', r.console?.slowestP50Ms, v => v < 100);
  // A fleet against raw etcd3 clients: boot cost per instance, no lease lost, stable as soon, etcd's memory.
  const f = r.fleet;
  add('fleet.bootWatchEventsPerInstance', '<= 3', f?.nest.bootWatchEventsPerInstance, v => v <= 3);
  add('fleet.leasesExpired', '== 0', f?.nest.leasesExpired, v => v === 0);
  add(
    'fleet.stableBehindRawSec',
    '<= 2',
    f ? f.nest.stableSec - f.raw.stableSec : undefined,
    v => v <= 2,
  );
  add('fleet.requestsPerInstance', '<= 5', f?.nest.requestsPerInstance, v => v <= 5);
  add(
    'fleet.etcdRssRatio',
    '<= 1.5',
    f ? Math.max(...f.nest.etcdRssMb) / Math.max(...f.raw.etcdRssMb) : undefined,
    v => v <= 1.5,
  );
  return t;
}

function printTable(r: Results): void {
  const n = (v: number | undefined, d = 2) => (v === undefined ? '-' : String(round(v, d)));
  const rows: Array<[string, string, string, string]> = [];
  const row = (metric: string, module: string, raw: string, note: string) =>
    rows.push([metric, module, raw, note]);
  if (r.configRead) {
    const c = r.configRead;
    row(
      'config read ops/s (ConfigValue.value)',
      n(c.configValueOpsPerSec, 0),
      n(c.rawOpsPerSec, 0),
      '',
    );
    row('config read ops/s (config.get)', n(c.configGetOpsPerSec, 0), n(c.rawOpsPerSec, 0), '');
    row('config read ratio (slower of the two)', n(c.ratio, 0), '', 'target >= 1000x');
  }
  if (r.propagation) {
    const p = r.propagation;
    row(
      `propagation p50 ms (${p.changes} puts)`,
      n(p.moduleP50Ms, 3),
      n(p.rawP50Ms, 3),
      `ratio ${n(p.p50Ratio)} (<= 1.05)${p.controlP50Ratio === undefined ? '' : `; A/A control ${n(p.controlP50Ratio)}`}`,
    );
    row(
      'propagation p99 ms',
      n(p.moduleP99Ms, 3),
      n(p.rawP99Ms, 3),
      `ratio ${n(p.p99Ratio)} (<= 1.1)${p.controlP99Ratio === undefined ? '' : `; A/A control ${n(p.controlP99Ratio)}`}`,
    );
  }
  if (r.configDocuments?.largeYaml) {
    const l = r.configDocuments.largeYaml;
    row(
      `worst event-loop block, ${l.puts} x 1.4 MiB YAML: unread / read (ms)`,
      `${n(l.unreadWorstMs, 1)} / ${n(l.readWorstMs, 1)}`,
      `${n(l.baselineWorstMs, 1)} (puts outside the prefix)`,
      'each single decode < 50 ms on the loop',
    );
  }
  if (r.configDocuments) {
    for (const [name, d] of [
      [`folder of 100 keys`, r.configDocuments.folder],
      [
        `${Math.round(r.configDocuments.yaml.documentBytes / 1024)} KiB YAML document`,
        r.configDocuments.yaml,
      ],
    ] as const) {
      row(
        `propagation p50 / p99 ms, ${name} (${d.changes} puts)`,
        `${n(d.moduleP50Ms, 3)} / ${n(d.moduleP99Ms, 3)}`,
        `${n(d.rawP50Ms, 3)} / ${n(d.rawP99Ms, 3)}`,
        `p50 ratio ${n(d.p50Ratio)} (<= 1.2)`,
      );
    }
  }
  if (r.registry) {
    const g = r.registry;
    row(`registry converge ms (${g.instances} instances)`, n(g.convergeMs, 1), '', '');
    row(
      'graceful deregistration p50 / p99 ms',
      `${n(g.deregisterP50Ms, 2)} / ${n(g.deregisterP99Ms, 2)}`,
      '',
      'p99 < 50',
    );
  }
  if (r.failureDetection) {
    const f = r.failureDetection;
    row(
      `failure detection ms (kill -9, ttl ${f.ttlSec}s)`,
      n(f.detectMs, 0),
      '',
      `trials ${f.trialsMs.map(v => Math.round(v)).join(', ')}`,
    );
  }
  if (r.scale) {
    const s = r.scale;
    row(
      `load ${s.keys} keys x ${s.keyBytes} B: boot ms`,
      n(s.loadMs, 1),
      n(s.rawListMs, 1),
      `raw = getAll().prefix(); empty boot ${n(s.emptyBootMs, 1)}; target < 1000`,
    );
    row('  heap / RSS growth MiB', `${n(s.heapMb, 1)} / ${n(s.rssMb, 1)}`, '', '');
    row(
      `${s.instances} instances / ${s.services} services: heap MiB`,
      n(s.memMb, 1),
      '',
      `RSS ${n(s.registryRssMb, 1)}`,
    );
    row(
      '  update throughput events/s',
      n(s.eventsPerSec, 0),
      n(s.writesPerSec, 0),
      'raw = writer puts/s',
    );
    row(
      `TCP connections (${s.tcpKeys} keys, ${s.tcpServices} services)`,
      String(s.tcpConnections),
      '',
      'target 1',
    );
  }
  if (r.startup) {
    const s = r.startup;
    row(
      'startup ms (create + init)',
      n(s.withModuleMs, 1),
      n(s.withoutModuleMs, 1),
      `overhead ${n(s.overheadMs, 1)} (< 50); no registry ${n(s.withModuleNoRegistryMs, 1)}`,
    );
    row('  heap MiB per app', n(s.withModuleHeapMb, 2), n(s.withoutModuleHeapMb, 2), '');
  }
  if (r.calls) {
    const c = r.calls;
    row(
      `registry.fetch p50 ms (${c.requests} GETs each way)`,
      n(c.registryP50Ms, 3),
      n(c.directP50Ms, 3),
      `ratio ${n(c.p50Ratio)}; raw = fetch() to a known address`,
    );
    row(
      'registry.fetch p99 ms',
      n(c.registryP99Ms, 3),
      n(c.directP99Ms, 3),
      `ratio ${n(c.p99Ratio)} (<= 1.2; median of ${c.rounds} rounds: ${c.p99Ratios.map(v => n(v)).join(' ')}); A/A control ${n(c.controlP99Ratio)} (${c.controlP99Ratios.map(v => n(v)).join(' ')}); ${c.connections} connections`,
    );
    row(
      'rolling restart (3 instances): failed requests',
      String(c.rollingFailed),
      '',
      `of ${c.rollingRequests} at ${n(c.rollingRatePerSec, 0)}/s; target 0`,
    );
  }
  if (r.fleet) {
    const f = r.fleet;
    const both = (pick: (side: FleetResult['nest']) => number, d = 1) =>
      [n(pick(f.nest), d), n(pick(f.raw), d)] as const;
    const fleetRow = (metric: string, values: readonly [string, string], note = '') =>
      row(metric, values[0], values[1], note);
    fleetRow(
      `fleet (${f.instances} instances, ${f.processes} processes, ttl ${f.ttlSec}): boot watch events / instance`,
      both(s => s.bootWatchEventsPerInstance),
      'target <= 3',
    );
    fleetRow(
      '  boot KiB sent by etcd / instance',
      both(s => s.bootBytesPerInstance / 1024),
    );
    fleetRow(
      '  boot s',
      both(s => s.bootSec),
    );
    fleetRow(
      '  steady etcd RSS MiB (largest member)',
      both(s => Math.max(...s.etcdRssMb)),
      'target <= 1.5x raw',
    );
    fleetRow(
      '  steady etcd Go heap in use MiB (largest member)',
      both(s => Math.max(...s.etcdHeapInuseMb)),
      'reported beside RSS (RSS includes the Go runtime slack)',
    );
    fleetRow('  steady etcd goroutines (largest member) / watch streams', [
      `${n(Math.max(...f.nest.etcdGoroutines), 0)} / ${n(f.nest.watchStreams, 0)}`,
      `${n(Math.max(...f.raw.etcdGoroutines), 0)} / ${n(f.raw.watchStreams, 0)}`,
    ]);
    fleetRow(
      '  steady keep-alive streams opened / s',
      both(s => s.keepAliveStreamsPerSec),
    );
    fleetRow(
      '  steady keep-alive messages / s',
      both(s => s.keepAliveMessagesPerSec),
    );
    fleetRow(
      '  restart: s until etcd / registrations / discovery agree',
      [
        `${n(f.nest.etcdBackSec)} / ${n(f.nest.registrationsBackSec)} / ${n(f.nest.discoveryBackSec)}`,
        `${n(f.raw.etcdBackSec)} / ${n(f.raw.registrationsBackSec)} / ${n(f.raw.discoveryBackSec)}`,
      ],
      'from the kill; restart 3 s later',
    );
    fleetRow(
      '  restart: s until stable',
      both(s => s.stableSec),
      'target <= raw + 2 s',
    );
    fleetRow(
      '  restart: fewest keys visible',
      both(s => s.fewestKeys, 0),
    );
    fleetRow(
      '  restart: leases expired',
      both(s => s.leasesExpired, 0),
      'target 0',
    );
    fleetRow(
      '  restart: instances lost / revived or re-registered',
      [
        `${n(f.nest.instancesLost, 0)} / ${n(f.nest.instancesRevived, 0)}`,
        `${n(f.raw.instancesLost, 0)} / ${n(f.raw.instancesRevived, 0)}`,
      ],
      'raw etcd3 never revives a lost lease',
    );
    fleetRow(
      '  restart: requests / instance until stable',
      both(s => s.requestsPerInstance, 2),
      'target <= 5',
    );
    fleetRow(
      `  restart: warning lines of the discovering app (${f.extraServices + 1} services)`,
      both(s => s.discoveryWarnings, 0),
    );
  }
  if (r.adminStatus) {
    const a = r.adminStatus;
    row(
      `nest-etcd status, ${a.instances} instances: ms (-o json / table)`,
      `${n(a.cliMs, 0)} / ${n(a.cliTableMs, 0)}`,
      n(a.nodeStartMs, 0),
      `raw = node -e ''; EtcdAdmin connect + status() ${n(a.coreMs, 1)}, status() alone ${n(a.coreStatusMs, 1)}`,
    );
  }
  if (r.statusWriter) {
    const w = r.statusWriter;
    row(
      `status writer: writes for a burst of ${w.burstChanges} changes`,
      n(w.statusWrites, 0),
      '-',
      `status showed the last change ${n(w.burstToStatusMs, 0)} ms after the first put`,
    );
    row(
      'status writer: propagation p50 / p99 (ms), report on vs off',
      `${n(w.reportingP50Ms, 3)} / ${n(w.reportingP99Ms, 3)}`,
      `${n(w.silentP50Ms, 3)} / ${n(w.silentP99Ms, 3)}`,
      `added p50 ${n(w.addedP50Ms, 3)} ms (${n(w.p50Ratio, 2)}x)`,
    );
  }
  if (r.console) {
    const c = r.console;
    for (const [page, p] of Object.entries(c.pages)) {
      row(
        `console page ${page} p50 / p99 ms (${c.instances} inst., ${c.keys} keys)`,
        `${n(p.p50Ms, 1)} / ${n(p.p99Ms, 1)}`,
        '',
        `${Math.round(p.bytes / 1024)} KiB; target < 100`,
      );
    }
  }
  const header: [string, string, string, string] = ['metric', 'nest-etcd', 'raw / without', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  console.log(line(header));
  console.log(widths.map(w => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<number> {
  // Nest's own loggers (module internals) stay quiet; the bench prints its own progress.
  Logger.overrideLogger(['error']);
  const started = now();
  log(`nest-etcd bench (${quick ? 'quick' : 'full'}): starting etcd`);
  const etcd = await EtcdServer.start({ name: 'bench' });
  etcdServer = etcd;
  const results: Results = {
    machine: machine(),
    node: process.version,
    etcd: '',
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
  };
  const errors: Record<string, string> = {};
  try {
    const probe = new Etcd3({ hosts: etcd.endpoint });
    results.etcd = (await probe.maintenance.status()).version;
    probe.close();
    const ctx: BenchContext = { quick, endpoint: etcd.endpoint, clientPort: etcd.clientPort, log };
    for (const name of Object.keys(SCENARIOS) as ScenarioName[]) {
      if (only && !only.includes(name)) continue;
      const t = now();
      log(`- ${name}`);
      try {
        const result = await SCENARIOS[name](ctx);
        (results as unknown as Record<string, unknown>)[name] = result;
        log(
          `  done in ${round((now() - t) / 1000, 1)} s: ${JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' ? round(v, 3) : v))}`,
        );
      } catch (err) {
        errors[name] = err instanceof Error ? (err.stack ?? err.message) : String(err);
        log(`  FAILED: ${errors[name]}`);
      }
    }
  } finally {
    await etcd.dispose();
  }
  results.durationSec = round((now() - started) / 1000, 1);
  results.targets = evaluateTargets(results);
  if (Object.keys(errors).length > 0) results.errors = errors;
  console.log('');
  printTable(results);
  console.log('');
  for (const [name, t] of Object.entries(results.targets)) {
    console.log(`${t.met ? 'met   ' : 'MISSED'} ${name} = ${t.value} (target ${t.target})`);
  }
  if (interrupted()) {
    console.log(`interrupted by ${interrupted()}: results not written`);
    return 130;
  }
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
  console.log(
    `\n${results.machine}; node ${results.node}; etcd ${results.etcd}; ${results.durationSec} s`,
  );
  console.log(`results written to ${outFile}`);
  return Object.keys(errors).length > 0 ? 1 : 0;
}

main().then(
  code => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

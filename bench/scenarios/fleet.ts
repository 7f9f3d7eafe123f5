import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../../test/support/index.js';
import { type BenchChild, type BenchContext, now, sleep, startChild } from '../bench-utils.js';

/** One fleet's figures (nest-etcd or the raw etcd3 control). */
export interface FleetSide {
  /** etcd watch events sent while the fleet booted, per instance. */
  bootWatchEventsPerInstance: number;
  /** Bytes etcd sent to clients while the fleet booted, per instance. */
  bootBytesPerInstance: number;
  bootSec: number;
  /** Steady state: resident memory of each etcd member (MiB). */
  etcdRssMb: number[];
  /** Steady state: Go heap in use of each etcd member (MiB; RSS less the Go runtime's slack). */
  etcdHeapInuseMb: number[];
  /** Steady state: goroutines of each etcd member (a gRPC connection or stream costs some). */
  etcdGoroutines: number[];
  /** Steady state: watch streams and watchers open on etcd, all members together. */
  watchStreams: number;
  watchers: number;
  /** Steady state: lease keep-alive streams opened per second, and keep-alive messages per second. */
  keepAliveStreamsPerSec: number;
  keepAliveMessagesPerSec: number;
  /** Whole-cluster restart (every member killed, restarted 3 s later), from the kill: */
  etcdBackSec: number;
  registrationsBackSec: number;
  discoveryBackSec: number;
  /** Until etcd, every registration and the discovering app agree, and stay so. */
  stableSec: number;
  fewestKeys: number;
  leasesExpired: number;
  /** Instances that went `lost` during the restart (nest-etcd: status `lost`; raw: lease `lost`). */
  instancesLost: number;
  /** Of those, times one came back to `registered` (revived or re-registered; raw: never). */
  instancesRevived: number;
  /** RPCs started on etcd (unary and streams) from the restart until stable, per instance. */
  requestsPerInstance: number;
  /** By method, all instances together (top ones). */
  requestsByMethod: Record<string, number>;
  /** Warning lines the discovering app logged during the restart (it discovers extra services). */
  discoveryWarnings: number;
}

/** Result of the fleet scenario. */
export interface FleetResult {
  instances: number;
  processes: number;
  ttlSec: number;
  /** Empty services the discovering app also watches (a caller that discovers many services). */
  extraServices: number;
  nest: FleetSide;
  raw: FleetSide;
}

const SERVICE = 'fleet';
const TTL_SEC = 10;
const RESTART_AFTER_MS = 3_000;

type Metrics = Map<string, number>;

/** Every sample of etcd's Prometheus text, by its full name with labels. */
async function scrape(endpoint: string): Promise<Metrics> {
  const res = await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(3_000) });
  const out: Metrics = new Map();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

async function scrapeAll(cluster: EtcdCluster): Promise<Metrics[]> {
  return Promise.all(cluster.members.map(m => scrape(m.endpoint)));
}

/** Sum over members of every sample whose name starts with `name` and contains every label. */
function sum(all: Metrics[], name: string, ...labels: string[]): number {
  let total = 0;
  for (const metrics of all) {
    for (const [key, value] of metrics) {
      if (
        (key === name || key.startsWith(`${name}{`)) &&
        labels.every(label => key.includes(label))
      ) {
        total += value;
      }
    }
  }
  return total;
}

/** RPCs started, by method, summed over members. */
function startedByMethod(all: Metrics[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const metrics of all) {
    for (const [key, value] of metrics) {
      const m = /^grpc_server_started_total\{.*grpc_method="([^"]+)".*grpc_service="([^"]+)"/.exec(
        key,
      );
      if (!m || m[2]!.startsWith('grpc.health') || value === 0) continue;
      out[m[1]!] = (out[m[1]!] ?? 0) + value;
    }
  }
  return out;
}

/** The latest `status` line of a child, as numbers. */
function latestStatus(child: BenchChild): () => number[] {
  let last: number[] = [];
  child.onLine(line => {
    if (line.startsWith('status ')) last = line.slice(7).split(' ').map(Number);
  });
  return () => last;
}

async function runFleet(
  ctx: BenchContext,
  kind: 'nest' | 'raw',
  instances: number,
  processes: number,
  extra: number,
): Promise<FleetSide> {
  const cluster = await EtcdCluster.start(3);
  const children: BenchChild[] = [];
  const probe = new Etcd3({ hosts: cluster.hosts, dialTimeout: 1_000 });
  try {
    const hosts = cluster.hosts.join(',');
    const discover = startChild(
      {
        FLEET_MODE: kind === 'nest' ? 'discover-nest' : 'discover-raw',
        FLEET_HOSTS: hosts,
        FLEET_SERVICE: SERVICE,
        FLEET_EXTRA: String(kind === 'nest' ? extra : 0),
      },
      'fleet-child.ts',
    );
    children.push(discover);
    await discover.line('ready', 60_000);
    const discovered = latestStatus(discover);

    const before = await scrapeAll(cluster);
    const t0 = now();
    const per = Math.ceil(instances / processes);
    const fleet: Array<() => number[]> = [];
    for (let p = 0; p < processes; p++) {
      const count = Math.min(per, instances - p * per);
      const child = startChild(
        {
          FLEET_MODE: kind,
          FLEET_HOSTS: hosts,
          FLEET_FIRST: String(p * per),
          FLEET_COUNT: String(count),
          FLEET_SERVICE: SERVICE,
          FLEET_TTL: String(TTL_SEC),
        },
        'fleet-child.ts',
      );
      children.push(child);
      fleet.push(latestStatus(child));
    }
    await Promise.all(children.slice(1).map(c => c.line('ready', 8 * 60_000)));
    const bootSec = (now() - t0) / 1000;
    await sleep(2_000); // let the last events reach every watcher
    const booted = await scrapeAll(cluster);
    ctx.log(`  ${kind}: ${instances} instances up in ${bootSec.toFixed(1)} s`);

    // ---- steady state ---------------------------------------------------------------------------
    // An instance opens its keep-alive stream at its first renewal (a third of the TTL after its
    // grant): the window starts once the last instances booted have done so, or their first
    // streams would count as steady-state reopens.
    await sleep((TTL_SEC * 1000) / 2);
    const steadyFrom = await scrapeAll(cluster);
    const windowMs = ctx.quick ? 10_000 : 20_000;
    await sleep(windowMs);
    const steady = await scrapeAll(cluster);
    const keepAlive = (m: Metrics[], metric: string) =>
      sum(m, metric, 'grpc_method="LeaseKeepAlive"');

    // ---- whole-cluster restart ------------------------------------------------------------------
    const leasesBefore = await leaseOfEachKey(probe);
    const [, recoveriesBefore = 0, warningsBefore = 0] = discovered();
    const lostSoFar = () => fleet.reduce((n, s) => n + (s()[2] ?? 0), 0);
    const revivedSoFar = () => fleet.reduce((n, s) => n + (s()[3] ?? 0), 0);
    const lostBefore = lostSoFar();
    const revivedBefore = revivedSoFar();
    const killedAt = now();
    await Promise.all(cluster.members.map(m => m.kill()));
    await sleep(RESTART_AFTER_MS);
    for (const m of cluster.members) m.launch();
    const since = () => (now() - killedAt) / 1000;
    let etcdBack: number | undefined;
    let fewestKeys = instances;
    const lastBecame = { registrations: 0, discovery: 0, all: 0 };
    const held = { registrations: false, discovery: false, all: false };
    let atStable: Metrics[] | undefined;
    const endBy = killedAt + RESTART_AFTER_MS + (ctx.quick ? 40_000 : 90_000);
    let quietSince = 0;
    while (now() < endBy) {
      await sleep(250);
      let keys: number | undefined;
      try {
        keys = await probe
          .getAll()
          .prefix(`/services/${SERVICE}/`)
          .options({ deadline: Date.now() + 1_000 })
          .count();
      } catch {
        keys = undefined;
      }
      if (keys !== undefined) {
        etcdBack ??= since();
        fewestKeys = Math.min(fewestKeys, keys);
      }
      const registered = fleet.reduce((n, s) => n + (s()[0] ?? 0), 0) === instances;
      const [seen = 0, recoveries = 0] = discovered();
      // The discovering side agrees once it lists every instance again and its watch came back.
      const discovery = seen === instances && recoveries > recoveriesBefore;
      const registrations = keys === instances && registered;
      const all = registrations && discovery;
      for (const [name, value] of [
        ['registrations', registrations],
        ['discovery', discovery],
        ['all', all],
      ] as const) {
        if (value && !held[name]) lastBecame[name] = since();
        held[name] = value;
      }
      if (all && !atStable) atStable = await scrapeAll(cluster).catch(() => undefined);
      if (!all) atStable = undefined;
      // Stable long enough that an expiring lease (ttl after the restart) would have shown.
      if (all) quietSince ||= now();
      else quietSince = 0;
      if (quietSince && now() - quietSince > (TTL_SEC + 5) * 1000) break;
    }
    const leasesAfter = await leaseOfEachKey(probe).catch(() => new Map<string, string>());
    let leasesExpired = 0;
    for (const [key, lease] of leasesBefore) if (leasesAfter.get(key) !== lease) leasesExpired++;
    const recovery = atStable ?? (await scrapeAll(cluster).catch(() => []));
    const byMethod = startedByMethod(recovery);
    const requests = Object.values(byMethod).reduce((a, b) => a + b, 0);
    return {
      bootWatchEventsPerInstance:
        (sum(booted, 'etcd_debugging_mvcc_events_total') -
          sum(before, 'etcd_debugging_mvcc_events_total')) /
        instances,
      bootBytesPerInstance:
        (sum(booted, 'etcd_network_client_grpc_sent_bytes_total') -
          sum(before, 'etcd_network_client_grpc_sent_bytes_total')) /
        instances,
      bootSec,
      etcdRssMb: steady.map(m => (m.get('process_resident_memory_bytes') ?? 0) / 2 ** 20),
      etcdHeapInuseMb: steady.map(m => (m.get('go_memstats_heap_inuse_bytes') ?? 0) / 2 ** 20),
      etcdGoroutines: steady.map(m => m.get('go_goroutines') ?? 0),
      watchStreams: sum(steady, 'etcd_debugging_mvcc_watch_stream_total'),
      watchers: sum(steady, 'etcd_debugging_mvcc_watcher_total'),
      keepAliveStreamsPerSec:
        (keepAlive(steady, 'grpc_server_started_total') -
          keepAlive(steadyFrom, 'grpc_server_started_total')) /
        (windowMs / 1000),
      keepAliveMessagesPerSec:
        (keepAlive(steady, 'grpc_server_msg_received_total') -
          keepAlive(steadyFrom, 'grpc_server_msg_received_total')) /
        (windowMs / 1000),
      etcdBackSec: etcdBack ?? Number.NaN,
      registrationsBackSec: held.registrations ? lastBecame.registrations : Number.NaN,
      discoveryBackSec: held.discovery ? lastBecame.discovery : Number.NaN,
      stableSec: held.all ? lastBecame.all : Number.NaN,
      fewestKeys,
      leasesExpired,
      instancesLost: lostSoFar() - lostBefore,
      instancesRevived: revivedSoFar() - revivedBefore,
      requestsPerInstance: requests / instances,
      requestsByMethod: byMethod,
      discoveryWarnings: (discovered()[2] ?? 0) - warningsBefore,
    };
  } finally {
    probe.close();
    await Promise.all(children.map(c => c.kill()));
    await cluster.dispose();
  }
}

/** Lease id of every instance key. */
async function leaseOfEachKey(client: Etcd3): Promise<Map<string, string>> {
  const res = await client
    .getAll()
    .prefix(`/services/${SERVICE}/`)
    .options({ deadline: Date.now() + 5_000 })
    .exec();
  return new Map(res.kvs.map(kv => [kv.key.toString(), String(kv.lease)]));
}

/**
 * N: 1,000 (200 with `--quick`), or env `BENCH_FLEET_INSTANCES` (a smoke of the full run's shape at
 * a size the machine allows, e.g. 400).
 */
function fleetSize(quick: boolean): number {
  const env = process.env.BENCH_FLEET_INSTANCES;
  if (env === undefined || env === '') return quick ? 200 : 1_000;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 4) {
    throw new Error(`BENCH_FLEET_INSTANCES must be an integer >= 4, got "${env}"`);
  }
  return n;
}

/**
 * Scenario 8: N registered instances (Nest application contexts, registry on, ttl 10)
 * in P processes against a 3-member cluster the scenario starts, plus one discovering app; then
 * every member is killed and restarted 3 s later. The same with a raw etcd3 control fleet (plain
 * `client.lease(ttl)` + put, a raw prefix watcher discovering), each fleet on a fresh cluster so
 * etcd's counters and memory are its own.
 */
export async function fleet(ctx: BenchContext): Promise<FleetResult> {
  const instances = fleetSize(ctx.quick);
  const processes = 4;
  const extra = instances;
  const raw = await runFleet(ctx, 'raw', instances, processes, extra);
  const nest = await runFleet(ctx, 'nest', instances, processes, extra);
  return { instances, processes, ttlSec: TTL_SEC, extraServices: extra, nest, raw };
}

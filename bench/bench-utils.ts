import { type INestApplicationContext, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { type Observable, filter, firstValueFrom, timeout } from 'rxjs';
import { EtcdModule } from '../lib/index.js';

/** Directory of the bench sources. */
export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
/** Repository root. */
export const ROOT_DIR = join(BENCH_DIR, '..');

/** Options every scenario gets. */
export interface BenchContext {
  /** `--quick`: fewer iterations (whole run within 2 minutes). */
  quick: boolean;
  /** Endpoint of the etcd started for this run. */
  endpoint: string;
  /** Client port of that etcd (to count TCP connections). */
  clientPort: number;
  /** One progress line. */
  log(message: string): void;
}

/** Percentile (nearest-rank) of unsorted samples. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Median of samples. */
export function median(samples: number[]): number {
  return percentile(samples, 50);
}

/** Rounds to `digits` decimals (for the report). */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export function now(): number {
  return performance.now();
}

/** Sleeps `ms` (only for pacing load, never as synchronization). */
export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/** Full GC (needs --expose-gc), twice, letting finalizers run in between. */
export async function collectGarbage(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return;
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(20);
  }
}

/** Heap used and RSS in MiB, after a full GC. */
export async function memoryAfterGc(): Promise<{ heapMb: number; rssMb: number }> {
  await collectGarbage();
  const m = process.memoryUsage();
  return { heapMb: m.heapUsed / 2 ** 20, rssMb: m.rss / 2 ** 20 };
}

/** Resolves with the first value of `obs` matching `predicate`; rejects after `ms`. */
export function until<T>(obs: Observable<T>, predicate: (v: T) => boolean, ms: number): Promise<T> {
  return firstValueFrom(obs.pipe(filter(predicate), timeout(ms)));
}

/**
 * ESTABLISHED TCP connections from process `pid` to local port `port` (IPv4 and IPv6), found by
 * matching the socket inodes in /proc/<pid>/fd against /proc/net/tcp{,6}. Linux only (NaN elsewhere).
 */
export function countEstablished(pid: number, port: number): number {
  if (process.platform !== 'linux') return Number.NaN;
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m) inodes.add(m[1]!);
    } catch {
      // fd closed meanwhile
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const remote = cols[2]!;
      const state = cols[3]!;
      const inode = cols[9]!;
      if (state === '01' && remote.endsWith(`:${hexPort}`) && inodes.has(inode)) count++;
    }
  }
  return count;
}

/** A bench child process (a Nest app booted by bench/child-app.ts). */
export interface BenchChild {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Resolves with the first stdout line that starts with `prefix` (rest of the line). */
  line(prefix: string, ms: number): Promise<string>;
  /** Calls `listener` with every stdout line from now on. */
  onLine(listener: (line: string) => void): void;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

/**
 * Starts `bench/child-app.ts` (or another bench script) with the TypeScript loader and the given
 * environment.
 */
export function startChild(env: Record<string, string>, script = 'child-app.ts'): BenchChild {
  const child = spawn(
    process.execPath,
    ['--import', join(BENCH_DIR, 'register.mjs'), join(BENCH_DIR, script)],
    { cwd: ROOT_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  liveChildren.add(child);
  const exited = new Promise<void>(resolve => {
    child.once('exit', () => {
      liveChildren.delete(child);
      resolve();
    });
  });
  const lines: string[] = [];
  const waiters: Array<{ prefix: string; resolve: (rest: string) => void }> = [];
  const listeners: Array<(line: string) => void> = [];
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  createInterface({ input: child.stdout }).on('line', line => {
    for (const listener of listeners) listener(line);
    if (line.startsWith('status ')) return; // periodic lines are for listeners only
    lines.push(line);
    for (const w of [...waiters]) {
      if (line.startsWith(w.prefix)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line.slice(w.prefix.length).trim());
      }
    }
  });
  return {
    process: child,
    pid: child.pid!,
    onLine(listener) {
      listeners.push(listener);
    },
    line(prefix, ms) {
      const seen = lines.find(l => l.startsWith(prefix));
      if (seen !== undefined) return Promise.resolve(seen.slice(prefix.length).trim());
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(`child ${child.pid} printed no "${prefix}" within ${ms} ms:\n${stderr}`),
          );
        }, ms);
        const done = (rest: string) => {
          clearTimeout(timer);
          resolve(rest);
        };
        waiters.push({ prefix, resolve: done });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`child ${child.pid} exited before printing "${prefix}":\n${stderr}`));
        });
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * Config options of the observer apps. Not `config: false`: `@InjectConfig` keys are recorded
 * process-wide and every `forRoot()` turns them into providers, which throw at boot when the config
 * center is disabled (see docs/performance.md, "Findings").
 */
export const OBSERVER_CONFIG = { prefix: '/bench/observer/config/' } as const;

let interruptedBy: string | undefined;

/** The signal that interrupted the run, if any (results must not be written then). */
export function interrupted(): string | undefined {
  return interruptedBy;
}

/**
 * On SIGINT / SIGTERM: dispose the etcd (kill it, delete its data dir) within 3 s, then exit 130.
 * The process exit hooks kill child apps and any etcd still running.
 */
export function onSignalDispose(current: () => { dispose(): Promise<void> } | undefined): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interruptedBy = signal;
      process.stderr.write(`${signal}: stopping etcd and child apps\n`);
      setTimeout(() => process.exit(130), 3000).unref();
      void Promise.resolve(current()?.dispose()).finally(() => process.exit(130));
    });
  }
}

/**
 * An etcd3 client on a TCP connection of its own. etcd3 clients built with the same options share
 * one connection (grpc-js's process-wide subchannel pool): a writer and a raw watcher built alike
 * would get a put's answer and its watch event in one socket read, a shortcut no service has (its
 * writer is another process) and the module's own connection never gets.
 */
export function clientOfItsOwn(endpoint: string): Etcd3 {
  return new Etcd3({ hosts: endpoint, grpcOptions: { 'grpc.use_local_subchannel_pool': 1 } });
}

/** Change propagation, module vs a raw etcd3 watcher on the same puts (milliseconds). */
export interface PropagationStats {
  changes: number;
  moduleP50Ms: number;
  moduleP99Ms: number;
  rawP50Ms: number;
  rawP99Ms: number;
  p50Ratio: number;
  p99Ratio: number;
  /**
   * With a `control` side (a second raw watcher, A/A): its p50 and p99 over the raw side's, the
   * noise floor of the two ratios above on the machine of the run.
   */
  controlP50Ratio?: number;
  controlP99Ratio?: number;
}

/** The emitting side of the module (a `ConfigValue`, or any observable-like source). */
export interface Emitter<T> {
  subscribe(next: (value: T) => void): { unsubscribe(): void };
}

/** The raw side: an etcd3 `Watcher` (only its `put` events are used). */
export interface PutWatcher {
  on(event: 'put', listener: (kv: { key: Buffer; value: Buffer }) => void): unknown;
  off(event: 'put', listener: (kv: { key: Buffer; value: Buffer }) => void): unknown;
  cancel(): Promise<void>;
}

/**
 * One side of a propagation measurement. It runs for the whole measurement, on keys of its own: the
 * other side never sees its writes, so only one side receives events at a time.
 */
export interface PropagationSide<V> {
  /** Starts the side (boots the app, opens the watcher); `seen` gets each value. Returns its stop. */
  start(seen: (value: V) => void): Promise<() => Promise<void>>;
  /** The marker written in one of its values ('' when the value carries none). */
  markerOf(value: V): string;
  /** Prepares the write of `marker` to this side's keys (untimed); returns the call that performs it (timed). */
  put(marker: string): () => Promise<unknown>;
}

/** What {@link measurePropagation} measures. */
export interface PropagationProbe<T> {
  /** Timed puts per side (plus 5 untimed warm-up puts per block). */
  changes: number;
  /** The module: an app whose emitter yields each change of its config keys. */
  module: PropagationSide<T>;
  /** The raw etcd3 client: a watcher whose `put` events yield each change of its own keys. */
  raw: PropagationSide<{ key: Buffer; value: Buffer }>;
  /** Optional A/A control: another raw watcher on keys of its own, measured like the two others. */
  control?: PropagationSide<{ key: Buffer; value: Buffer }>;
}

/** Blocks per side: the sides alternate, so a drift of the machine hits both alike. */
const PROPAGATION_BLOCKS = 10;

/** A module side: one app for the whole measurement; times what `emitter(app)` emits. */
export function moduleSide<T>(
  boot: () => Promise<INestApplicationContext>,
  emitter: (app: INestApplicationContext) => Emitter<T>,
  markerOf: (value: T) => string,
  put: (marker: string) => () => Promise<unknown>,
): PropagationSide<T> {
  return {
    markerOf,
    put,
    async start(seen) {
      const app = await boot();
      const subscription = emitter(app).subscribe(seen);
      return async () => {
        subscription.unsubscribe();
        await app.close();
      };
    },
  };
}

/** A raw side: one watcher (on its own client) for the whole measurement. */
export function rawSide(
  watch: () => Promise<PutWatcher>,
  markerOf: (kv: { key: Buffer; value: Buffer }) => string,
  put: (marker: string) => () => Promise<unknown>,
): PropagationSide<{ key: Buffer; value: Buffer }> {
  return {
    markerOf,
    put,
    async start(seen) {
      const watcher = await watch();
      watcher.on('put', seen);
      return async () => {
        watcher.off('put', seen);
        await watcher.cancel();
      };
    },
  };
}

/**
 * The propagation measurement loop of the bench: the time from a put call to the module's emission,
 * and to a raw etcd3 watcher's `put` event, **one side at a time**.
 *
 * Both sides run for the whole measurement, as a service does: the app is booted once and the raw
 * watcher opened once, each on keys of its own (the app's config prefix; a mirror of it outside that
 * prefix for the raw watcher). The blocks alternate which side's keys are written (module, raw,
 * module, …; 10 blocks each), so only one side receives events at a time. Measured with both
 * receiving the same puts, each put's time depended on which connection the event loop read first
 * (the second pays for the first one's gRPC decoding and handler, ≈ 0.1 ms); measured with an app
 * booted per block, the module also paid for a connection seconds old. Each put waits until the side
 * saw it, so nothing queues. Rejects if a change is not seen within 10 s.
 */
export async function measurePropagation<T>(probe: PropagationProbe<T>): Promise<PropagationStats> {
  const moduleMs: number[] = [];
  const rawMs: number[] = [];
  const controlMs: number[] = [];
  const perBlock = Math.max(1, Math.ceil(probe.changes / PROPAGATION_BLOCKS));
  let sequence = 0;
  let expected = '';
  let seenAt = 0;
  let notify: (() => void) | undefined;
  const listener =
    <V>(side: PropagationSide<V>) =>
    (value: V) => {
      if (side.markerOf(value) !== expected) return;
      seenAt = now();
      notify?.();
    };
  const block = async <V>(side: PropagationSide<V>, into: number[]) => {
    const warmup = 5;
    for (let i = 0; i < perBlock + warmup; i++) {
      expected = `m-${sequence++}`;
      seenAt = 0;
      const marker = expected;
      const seen = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`change ${marker} not seen in 10 s`)),
          10_000,
        );
        notify = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      const write = side.put(marker);
      const start = now();
      await write();
      await seen;
      if (i >= warmup) into.push(seenAt - start);
      await sleep(1);
    }
  };
  const stops: Array<() => Promise<void>> = [];
  try {
    stops.push(await probe.module.start(listener(probe.module)));
    stops.push(await probe.raw.start(listener(probe.raw)));
    const control = probe.control;
    if (control) stops.push(await control.start(listener(control)));
    for (let b = 0; b < PROPAGATION_BLOCKS; b++) {
      await block(probe.module, moduleMs);
      // With a control, raw and control swap places every other block (neither always follows the module).
      if (control && b % 2 === 1) await block(control, controlMs);
      await block(probe.raw, rawMs);
      if (control && b % 2 === 0) await block(control, controlMs);
    }
  } finally {
    notify = undefined;
    for (const stop of stops) await stop();
  }
  const moduleP50Ms = percentile(moduleMs, 50);
  const moduleP99Ms = percentile(moduleMs, 99);
  const rawP50Ms = percentile(rawMs, 50);
  const rawP99Ms = percentile(rawMs, 99);
  return {
    changes: moduleMs.length,
    moduleP50Ms,
    moduleP99Ms,
    rawP50Ms,
    rawP99Ms,
    p50Ratio: moduleP50Ms / rawP50Ms,
    p99Ratio: moduleP99Ms / rawP99Ms,
    ...(probe.control && {
      controlP50Ratio: percentile(controlMs, 50) / rawP50Ms,
      controlP99Ratio: percentile(controlMs, 99) / rawP99Ms,
    }),
  };
}

/**
 * A Nest application context with `EtcdModule.forRoot({ hosts, config: { prefix } })` and
 * `providers`, logging nothing; the caller closes it. The app every config scenario measures.
 */
export async function startConfigApp(
  hosts: string,
  prefix: string,
  providers: Type[],
  maxValueBytes?: number,
): Promise<INestApplicationContext> {
  @Module({
    imports: [EtcdModule.forRoot({ hosts, config: { prefix, maxValueBytes } })],
    providers,
  })
  class BenchConfigModule {}
  return NestFactory.createApplicationContext(BenchConfigModule, {
    logger: false,
    abortOnError: false,
  });
}

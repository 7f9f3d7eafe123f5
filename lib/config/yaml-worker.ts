import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { setOwn } from '../common/own-property.js';
import { parseYamlDocument, type DecodeResult } from './config-codec.js';

/**
 * The worker's code: js-yaml (resolved by the main thread) and {@link parseYamlDocument} from its
 * source text, so the worker parses exactly as the event loop would, from this file alone (no
 * separate script to ship, the same under ts-jest, the bench's loader and the built package).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const yaml = require(workerData.parser);
const parse = (0, eval)('(' + workerData.parse + ')');
const CHUNK = workerData.chunk;
const own = (object, key, value) =>
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
// The value as JSON fragments of about CHUNK characters, in document order: [path, kind, json];
// 'set' puts a value at path, 'push' appends items to the array at path, 'assign' adds entries to
// the object at path.
function fragments(value, path, out) {
  const json = JSON.stringify(value);
  if (json.length <= CHUNK || typeof value !== 'object' || value === null) {
    out.push([path, 'set', json]);
    return;
  }
  const array = Array.isArray(value);
  const keys = array ? undefined : Object.keys(value);
  const count = array ? value.length : keys.length;
  out.push([path, 'set', array ? '[]' : '{}']);
  let batch = array ? [] : {};
  let size = 0;
  const flush = () => {
    if (size === 0) return;
    out.push([path, array ? 'push' : 'assign', JSON.stringify(batch)]);
    batch = array ? [] : {};
    size = 0;
  };
  for (let i = 0; i < count; i++) {
    const child = array ? value[i] : value[keys[i]];
    const length = JSON.stringify(child).length;
    if (length > CHUNK && typeof child === 'object' && child !== null) {
      flush();
      if (array) out.push([path, 'push', '[null]']);
      fragments(child, path.concat(array ? i : keys[i]), out);
      continue;
    }
    if (array) batch.push(child);
    else own(batch, keys[i], child);
    size += length;
    if (size >= CHUNK) flush();
  }
  flush();
}
parentPort.on('message', ({ text, keep }) => {
  let result;
  try {
    result = parse(text, yaml);
  } catch (err) {
    result = { ok: false, reason: 'invalid YAML document: ' + String((err && err.message) || err) };
  }
  // Only checked: the document is not handed back (no copy of it on the event loop).
  if (!keep && result.ok) result = { ok: true, value: undefined };
  // Handed back as JSON fragments when JSON says it exactly (no NaN, Infinity or -0) and aliases do
  // not blow it up: the loop parses them one slice at a time (a structured clone is one block).
  if (keep && result.ok && typeof result.value === 'object' && result.value !== null) {
    let exact = true;
    const json = JSON.stringify(result.value, (_, v) => {
      if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) exact = false;
      return v;
    });
    if (exact && json.length <= 2 * text.length) {
      const parts = [];
      fragments(result.value, [], parts);
      result = { ok: true, parts };
    }
  }
  try {
    parentPort.postMessage(result);
  } catch (err) {
    const reason = 'decoded YAML value cannot be handed over: ' + String((err && err.message) || err);
    parentPort.postMessage({ ok: false, reason });
  }
});
`;

/** One JSON fragment of a document: where it goes, how, and its text. */
type Fragment = [path: (string | number)[], kind: 'set' | 'push' | 'assign', json: string];

/** What the worker posts: a result, or a document as JSON fragments (assembled on the loop). */
type WorkerAnswer = DecodeResult<unknown> | { ok: true; parts: Fragment[] };

/** Size of a fragment (characters of JSON): ≈ 0.5 ms of JSON.parse here. */
const FRAGMENT_CHARS = 64 * 1024;
/** The longest the loop assembles a document before it lets other work run, ms. */
const ASSEMBLY_SLICE_MS = 4;

/** Heap of the worker: a capped document (config.maxValueBytes) parses in far less. */
const WORKER_HEAP_MB = 256;

interface Job {
  readonly text: string;
  /** Whether the parsed document is handed back (else only whether it is valid). */
  readonly keep: boolean;
  readonly wanted: () => boolean;
  resolve(result: DecodeResult<unknown> | undefined): void;
}

/**
 * One worker thread that parses large YAML documents off the event loop (a 1.4 MiB document takes
 * ≈ 60-200 ms to parse; the event loop only pays for receiving the value, ≈ 10-30 ms per MiB). One
 * document at a time: a document no longer wanted when its turn comes (a newer revision arrived) is
 * skipped. Started on the first document, never keeps the process alive, and {@link close}d with the
 * config service. A worker that dies answers its document as rejected and is started again for the
 * next one.
 * @internal
 */
export class YamlWorker {
  private worker: Worker | undefined;
  private readonly queue: Job[] = [];
  private current: Job | undefined;
  private closed = false;

  /**
   * Parses a YAML document in the worker when its turn comes. Never rejects: a failure is a
   * `{ ok: false }` result; `undefined` when it was skipped (no longer `wanted`, or the worker was
   * closed). `keep: false` only checks the document: the value of an `ok` result is `undefined`.
   */
  decode(
    text: string,
    wanted: () => boolean,
    keep = true,
  ): Promise<DecodeResult<unknown> | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    return new Promise(resolve => {
      this.queue.push({ text, keep, wanted, resolve });
      this.next();
    });
  }

  /** Stops the worker; documents not parsed yet are skipped. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    for (const job of this.queue.splice(0)) job.resolve(undefined);
    this.current?.resolve(undefined);
    this.current = undefined;
    if (worker) await worker.terminate();
  }

  private next(): void {
    if (this.current || this.closed) return;
    let job = this.queue.shift();
    while (job && !job.wanted()) {
      job.resolve(undefined);
      job = this.queue.shift();
    }
    if (!job) {
      this.worker?.unref();
      return;
    }
    this.current = job;
    const worker = this.started();
    worker.ref();
    worker.postMessage({ text: job.text, keep: job.keep });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        parser: createRequire(import.meta.url).resolve('js-yaml'),
        parse: parseYamlDocument.toString(),
        chunk: FRAGMENT_CHARS,
      },
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    worker.on('message', (answer: WorkerAnswer) => {
      const job = this.current;
      if (!('parts' in answer)) return this.answer(answer, job);
      assemble(answer.parts).then(
        value => this.answer({ ok: true, value }, job),
        (err: unknown) =>
          this.answer({ ok: false, reason: `invalid YAML document: ${String(err)}` }, job),
      );
    });
    const failed = (reason: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.answer({ ok: false, reason }, this.current);
    };
    worker.on('error', err => failed(`the YAML worker failed: ${err.message}`));
    worker.on('exit', code => failed(`the YAML worker exited (code ${code})`));
    this.worker = worker;
    return worker;
  }

  /** The answer to `job` (ignored when it is no longer the job in hand: closed, or it failed). */
  private answer(result: DecodeResult<unknown>, job: Job | undefined): void {
    if (!job || job !== this.current) return;
    this.current = undefined;
    job.resolve(result);
    this.next();
  }
}

/**
 * A document from its JSON fragments, built a slice at a time: the loop yields to other work every
 * {@link ASSEMBLY_SLICE_MS} (a 1.4 MiB document is ≈ 20 fragments, each ≈ 0.5 ms of JSON.parse).
 * Every key is an own data property (`__proto__` included).
 */
async function assemble(parts: Fragment[]): Promise<unknown> {
  let root: unknown;
  let since = performance.now();
  for (const [path, kind, json] of parts) {
    const value = JSON.parse(json) as unknown;
    if (kind === 'set' && path.length === 0) {
      root = value;
    } else {
      const at = kind === 'set' ? path.slice(0, -1) : path;
      let target = root as Record<string | number, unknown>;
      for (const step of at) target = target[step] as Record<string | number, unknown>;
      if (kind === 'set') setOwn(target, String(path[path.length - 1]), value);
      else if (kind === 'push')
        for (const item of value as unknown[]) (target as unknown as unknown[]).push(item);
      else for (const [key, item] of Object.entries(value as object)) setOwn(target, key, item);
    }
    if (performance.now() - since > ASSEMBLY_SLICE_MS) {
      await new Promise(resolve => setImmediate(resolve));
      since = performance.now();
    }
  }
  return root;
}

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
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
parentPort.on('message', ({ text, keep }) => {
  let result;
  try {
    result = parse(text, yaml);
  } catch (err) {
    result = { ok: false, reason: 'invalid YAML document: ' + String((err && err.message) || err) };
  }
  // Only checked: the document is not handed back (no copy of it on the event loop).
  if (!keep && result.ok) result = { ok: true, value: undefined };
  // Handed back as JSON text when JSON says it exactly (no NaN, Infinity or -0) and aliases do not
  // blow it up: JSON.parse on the loop builds it ~1.5x faster than a structured clone's copy.
  if (keep && result.ok && typeof result.value === 'object' && result.value !== null) {
    let exact = true;
    const json = JSON.stringify(result.value, (_, v) => {
      if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) exact = false;
      return v;
    });
    if (exact && json.length <= 2 * text.length) result = { ok: true, json };
  }
  try {
    parentPort.postMessage(result);
  } catch (err) {
    const reason = 'decoded YAML value cannot be handed over: ' + String((err && err.message) || err);
    parentPort.postMessage({ ok: false, reason });
  }
});
`;

/** What the worker posts: a result, or a document as JSON text (parsed on the loop). */
type WorkerAnswer = DecodeResult<unknown> | { ok: true; json: string };

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
      },
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    worker.on('message', (answer: WorkerAnswer) =>
      this.answer('json' in answer ? { ok: true, value: JSON.parse(answer.json) } : answer),
    );
    const failed = (reason: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.answer({ ok: false, reason });
    };
    worker.on('error', err => failed(`the YAML worker failed: ${err.message}`));
    worker.on('exit', code => failed(`the YAML worker exited (code ${code})`));
    this.worker = worker;
    return worker;
  }

  private answer(result: DecodeResult<unknown>): void {
    const job = this.current;
    this.current = undefined;
    job?.resolve(result);
    this.next();
  }
}

import { ReplaySubject, type Observable } from 'rxjs';
import { backoffDelay } from '../common/backoff.js';
import { systemClock, type Clock } from '../common/clock.js';
import type { KeepAliveStream, LeasePort } from './lease-port.js';

/** How a lease is granted and kept. @internal */
export interface LeaseOptions {
  /** Lease seconds (etcd grants whole seconds). */
  readonly ttl: number;
  /** ms between two keep-alive requests. @default ttl / 3 */
  readonly renewEveryMs?: number;
  /**
   * How long after the *send* of its last renewal that etcd confirmed the lease still counts as
   * alive (ms). etcd measures the TTL from when it *received* that renewal, which is later, so with
   * the default (the TTL) the lease is never reported alive after etcd may have expired it; an
   * election passes a shorter bound (its renew deadline) to stop leading before that.
   * @default ttl
   */
  readonly boundMs?: number;
  /** Bound of the grant call (ms). @default max(2000, ttl / 2) */
  readonly timeoutMs?: number;
}

/** Why a lease can no longer be relied on. @internal */
export interface LeaseLoss {
  /**
   * `gone`: etcd said so (a keep-alive answered TTL 0, or a call answered "lease not found");
   * `expired`: no renewal was confirmed within the bound, so no renewal can have reached etcd before
   * the lease ran out.
   */
  readonly cause: 'gone' | 'expired';
  /** ms from the send of the last confirmed renewal (or the grant) to the loss. */
  readonly silentMs: number;
  /** One readable line. */
  readonly message: string;
}

/**
 * The one lease engine of the module, used by self-registration, elections and locks: it grants a
 * lease and keeps it alive on ONE keep-alive stream per lease (as etcd3's `lease.keepalive()`
 * does; a broken stream is reopened with jittered backoff, never one stream per heartbeat), and
 * says when the lease is lost. It stands on a narrow {@link LeasePort} and a {@link Clock}, so its
 * rules are unit-tested on a fake clock (test/unit/lease-engine.spec.ts).
 * @internal
 */
export class LeaseEngine {
  constructor(
    private readonly port: LeasePort,
    private readonly clock: Clock = systemClock,
    private readonly random: () => number = Math.random,
  ) {}

  /** Grants a lease and starts keeping it alive. Rejects with the port's error. */
  async grant(options: LeaseOptions): Promise<Lease> {
    const ttlMs = options.ttl * 1000;
    const sentAt = this.clock.now();
    const granted = await this.port.grant(
      options.ttl,
      options.timeoutMs ?? Math.max(2000, ttlMs / 2),
    );
    return new Lease(this.port, this.clock, this.random, granted.id, sentAt, {
      ttl: granted.ttl > 0 ? granted.ttl : options.ttl,
      renewEveryMs: options.renewEveryMs ?? ttlMs / 3,
      boundMs: options.boundMs ?? ttlMs,
    });
  }

  /**
   * Asks etcd whether lease `id` (one this app held and stopped confirming, e.g. through an etcd
   * outage longer than the local bound) is still alive, with one keep-alive on a fresh stream, as
   * etcd's Go client does after a reconnect: etcd restores leases on recovery and extends them, so a
   * lease the local clock gave up on is often still there. Resolves with a kept-alive {@link Lease}
   * for the same id when etcd answers TTL > 0 (that answer renewed it), `undefined` when etcd says
   * the lease is gone (TTL ≤ 0: only then must a new one be granted); rejects when etcd does not
   * answer within `timeoutMs` (the caller retries with backoff).
   */
  revive(id: string, options: LeaseOptions): Promise<Lease | undefined> {
    const ttlMs = options.ttl * 1000;
    const timeoutMs = options.timeoutMs ?? Math.max(2000, ttlMs / 2);
    const sentAt = this.clock.now();
    return new Promise<Lease | undefined>((resolve, reject) => {
      let done = false;
      let stream: KeepAliveStream | undefined;
      const finish = (outcome: () => void) => {
        if (done) return;
        done = true;
        cancel();
        stream?.close();
        outcome();
      };
      const cancel = this.clock.setTimer(
        () =>
          finish(() =>
            reject(new Error(`no keep-alive answer for lease ${id} within ${timeoutMs} ms`)),
          ),
        timeoutMs,
        { background: true },
      );
      const opened = this.port.keepAlive(id, {
        answer: ttl =>
          finish(() =>
            resolve(
              ttl > 0
                ? new Lease(this.port, this.clock, this.random, id, sentAt, {
                    ttl,
                    renewEveryMs: options.renewEveryMs ?? ttlMs / 3,
                    boundMs: options.boundMs ?? ttlMs,
                  })
                : undefined,
            ),
          ),
        broken: err => finish(() => reject(err instanceof Error ? err : new Error(String(err)))),
      });
      // The port may report a broken stream synchronously.
      if (done) opened.close();
      else {
        stream = opened;
        opened.send();
      }
    });
  }

  /** Revokes lease `id` (not kept by a {@link Lease} any more); a lease already gone is not an error. */
  revoke(id: string, timeoutMs: number): Promise<void> {
    return this.port.revoke(id, timeoutMs);
  }

  /** A readable, one-line reason for an error of the port. */
  describe(err: unknown): string {
    return this.port.describe(err);
  }
}

/** What {@link Lease.check} learned. @internal */
export type LeaseCheck = 'alive' | 'gone' | 'unknown';

/**
 * One granted lease, kept alive until it is lost, released or revoked. `validUntil` (monotonic)
 * is the send time of the last renewal etcd confirmed plus the bound: it moves forward with each
 * confirmation and never depends on how long an answer took, so a slow link or a second of
 * event-loop lag costs nothing while renewals keep reaching etcd in time.
 * @internal
 */
export class Lease {
  readonly ttl: number;
  private readonly renewEveryMs: number;
  private readonly boundMs: number;
  /**
   * An unanswered request this old means the stream is dead (a retired channel, a half-open
   * connection): reopen it while the lease can still be renewed. One period or a third of the TTL,
   * far above a slow link's round trip (2.2 s on a 1.1 s-each-way link at ttl 10: 3.3 s).
   */
  private readonly staleMs: number;
  private confirmedAt: number;
  private validUntilMs: number;
  private state: 'alive' | 'lost' | 'ended' = 'alive';
  private lossValue: LeaseLoss | undefined;
  private stream: KeepAliveStream | undefined;
  private streamSeq = 0;
  /** Send times of the requests on the current stream that etcd has not answered yet (in order). */
  private pending: Array<{ at: number; waiter?: (check: LeaseCheck) => void }> = [];
  private breaks = 0;
  private cancelBeat: (() => void) | undefined;
  private cancelDeadline: (() => void) | undefined;
  private readonly lostSubject = new ReplaySubject<LeaseLoss>(1);

  /** Emits once when the lease is lost, then completes; completes silently on release/revoke. */
  readonly lost$: Observable<LeaseLoss> = this.lostSubject.asObservable();

  /** @internal Built by {@link LeaseEngine.grant}. */
  constructor(
    private readonly port: LeasePort,
    private readonly clock: Clock,
    private readonly random: () => number,
    readonly id: string,
    grantedAt: number,
    timing: { ttl: number; renewEveryMs: number; boundMs: number },
  ) {
    this.ttl = timing.ttl;
    this.renewEveryMs = Math.max(1, timing.renewEveryMs);
    this.boundMs = Math.min(timing.boundMs, timing.ttl * 1000);
    this.staleMs = Math.max(this.renewEveryMs, (timing.ttl * 1000) / 3);
    this.confirmedAt = grantedAt;
    this.validUntilMs = grantedAt + this.boundMs;
    // The cadence counts from the grant's send time: a grant answered late (etcd just restarted, a
    // slow link) must not eat the first renewal's share of the bound.
    this.scheduleBeat(Math.max(0, this.renewEveryMs - (clock.now() - grantedAt)));
    this.armDeadline();
  }

  /** True while not lost, released or revoked and the bound has not passed. */
  get alive(): boolean {
    return this.state === 'alive' && this.clock.now() < this.validUntilMs;
  }

  /** Monotonic ms up to which the lease is known to be alive (see the class comment). */
  get validUntil(): number {
    return this.validUntilMs;
  }

  /** Monotonic ms of the send of the last renewal etcd confirmed (or of the grant). */
  get lastConfirmedAt(): number {
    return this.confirmedAt;
  }

  /** The loss, once lost. */
  get loss(): LeaseLoss | undefined {
    return this.lossValue;
  }

  /**
   * Sends a keep-alive now and resolves with what etcd answered to it: `alive`, `gone` (the lease
   * is lost), or `unknown` (no answer within `timeoutMs`, or the stream broke).
   */
  check(timeoutMs: number): Promise<LeaseCheck> {
    if (this.state !== 'alive') return Promise.resolve(this.state === 'lost' ? 'gone' : 'unknown');
    return new Promise<LeaseCheck>(resolve => {
      let done = false;
      const finish = (check: LeaseCheck) => {
        if (done) return;
        done = true;
        cancel();
        resolve(check);
      };
      const cancel = this.clock.setTimer(() => finish('unknown'), timeoutMs, {
        background: true,
      });
      this.send(finish);
    });
  }

  /** An answer from etcd outside the heartbeat said the lease does not exist (e.g. a put). */
  markGone(reason: string): void {
    this.lose('gone', `lease ${this.id} is gone (${reason})`);
  }

  /** Stops keeping the lease alive, without revoking it (it lapses after its TTL). */
  release(): void {
    if (this.state === 'alive') this.state = 'ended';
    this.shutdown();
    this.lostSubject.complete();
  }

  /** Stops keeping the lease alive and revokes it (etcd deletes its keys). Bounded by `timeoutMs`. */
  async revoke(timeoutMs: number): Promise<void> {
    this.release();
    await this.port.revoke(this.id, timeoutMs);
  }

  private scheduleBeat(ms: number): void {
    this.cancelBeat?.();
    this.cancelBeat = this.clock.setTimer(() => {
      this.cancelBeat = undefined;
      this.send();
      this.scheduleBeat(this.renewEveryMs);
    }, ms);
  }

  /** Writes one keep-alive on the stream (opening it when needed). */
  private send(waiter?: (check: LeaseCheck) => void): void {
    if (this.state !== 'alive') {
      waiter?.(this.state === 'lost' ? 'gone' : 'unknown');
      return;
    }
    const now = this.clock.now();
    const oldest = this.pending[0];
    if (this.stream && oldest && now - oldest.at >= this.staleMs) {
      // No answer for longer than a healthy (even slow) link takes: the stream is dead.
      this.dropStream('unknown');
    }
    if (!this.stream) this.openStream();
    const stream = this.stream;
    if (!stream) {
      waiter?.('unknown');
      return;
    }
    this.pending.push({ at: now, waiter });
    stream.send();
  }

  private openStream(): void {
    const seq = ++this.streamSeq;
    const stream = this.port.keepAlive(this.id, {
      answer: ttl => {
        if (seq === this.streamSeq) this.onAnswer(ttl);
      },
      broken: () => {
        if (seq !== this.streamSeq || this.state !== 'alive') return;
        this.dropStream('unknown');
        // Reopen soon (jittered, so a fleet does not reconnect in the same millisecond), at the
        // latest at the next regular beat.
        const delay = backoffDelay(
          this.breaks++,
          { initialDelay: 250, maxDelay: this.renewEveryMs },
          this.random,
        );
        this.scheduleBeat(Math.min(delay, this.renewEveryMs));
      },
    });
    // The port may report a broken stream synchronously: keep only a stream still current.
    if (seq === this.streamSeq) this.stream = stream;
    else stream.close();
  }

  private dropStream(check: LeaseCheck): void {
    this.streamSeq++;
    const stream = this.stream;
    this.stream = undefined;
    const waiting = this.pending;
    this.pending = [];
    stream?.close();
    for (const request of waiting) request.waiter?.(check);
  }

  private onAnswer(ttl: number): void {
    const request = this.pending.shift();
    if (this.state !== 'alive') return;
    if (ttl <= 0) {
      request?.waiter?.('gone');
      this.lose('gone', `lease ${this.id} expired or was revoked`);
      return;
    }
    this.breaks = 0;
    if (request) {
      this.confirmedAt = Math.max(this.confirmedAt, request.at);
      this.validUntilMs = Math.max(
        this.validUntilMs,
        this.confirmedAt + Math.min(this.boundMs, ttl * 1000),
      );
      this.armDeadline();
      request.waiter?.('alive');
    }
  }

  private armDeadline(): void {
    this.cancelDeadline?.();
    this.cancelDeadline = this.clock.setTimer(
      () => {
        this.cancelDeadline = undefined;
        if (this.state !== 'alive') return;
        if (this.clock.now() >= this.validUntilMs) {
          const silent = this.clock.now() - this.confirmedAt;
          this.lose(
            'expired',
            `no renewal of lease ${this.id} confirmed for ${(silent / 1000).toFixed(1)}s ` +
              `(bound ${(this.boundMs / 1000).toFixed(1)}s)`,
          );
        } else {
          this.armDeadline();
        }
      },
      Math.max(0, this.validUntilMs - this.clock.now()),
      { background: true },
    );
  }

  private lose(cause: LeaseLoss['cause'], message: string): void {
    if (this.state !== 'alive') return;
    this.state = 'lost';
    this.lossValue = { cause, silentMs: this.clock.now() - this.confirmedAt, message };
    this.shutdown();
    this.lostSubject.next(this.lossValue);
    this.lostSubject.complete();
  }

  private shutdown(): void {
    this.cancelBeat?.();
    this.cancelBeat = undefined;
    this.cancelDeadline?.();
    this.cancelDeadline = undefined;
    this.dropStream(this.state === 'lost' ? 'gone' : 'unknown');
  }
}

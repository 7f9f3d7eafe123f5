import { EtcdLeaseInvalidError, type Namespace } from 'etcd3';
import { Subject, type Observable } from 'rxjs';
import { within } from '../common/timing.js';
import { keepAliveOnce } from '../client/lease-keep-alive.js';
import { monotonicNow, type LeaseTiming } from './election-timing.js';

/**
 * One etcd lease held for an election or a lock, with a local deadline: `validUntil` is the
 * monotonic time up to which the holder may act, i.e. the send time of the last renewal etcd
 * confirmed plus the renew deadline. etcd measures the lease from when it *received* that renewal,
 * which is later, so the lease outlives `validUntil` by at least `ttl - renewDeadline`.
 * @internal
 */
export class LeaseKeeper {
  private leaseId: string | undefined;
  private validUntilMs = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private renewing = false;
  private closed = false;
  private readonly lostSubject = new Subject<string>();

  /** Emits a reason each time the lease can no longer be relied on (while the heartbeat runs). */
  readonly lost$: Observable<string> = this.lostSubject.asObservable();

  constructor(
    private readonly kv: Namespace,
    readonly timing: LeaseTiming,
  ) {}

  /** The lease id (decimal string), once granted and not known to be gone. */
  get id(): string | undefined {
    return this.leaseId;
  }

  /** Monotonic ms up to which the lease is known to be alive with a margin. */
  get validUntil(): number {
    return this.validUntilMs;
  }

  /** True while the local deadline has not passed. */
  get valid(): boolean {
    return this.leaseId !== undefined && monotonicNow() < this.validUntilMs;
  }

  /**
   * Makes sure a live lease is held: renews the current one, or grants a new one when there is none
   * or etcd says it is gone. Resolves with its id; `validUntil` is refreshed.
   */
  async ensure(): Promise<string> {
    if (this.leaseId !== undefined) {
      const sentAt = monotonicNow();
      const remaining = await this.renewOnce(this.leaseId);
      if (remaining > 0 && this.leaseId !== undefined) {
        this.extend(sentAt, remaining);
        return this.leaseId;
      }
      this.forget();
    }
    const sentAt = monotonicNow();
    const timeoutMs = this.callTimeout();
    const granted = await this.kv.leaseClient.leaseGrant(
      { TTL: this.timing.ttl },
      { deadline: Date.now() + timeoutMs },
    );
    if (this.closed) {
      // revoke at once: nobody will renew it
      void this.kv.leaseClient.leaseRevoke({ ID: granted.ID }).catch(() => undefined);
      throw new Error('lease keeper closed');
    }
    this.leaseId = granted.ID;
    this.extend(sentAt, Number(granted.TTL));
    return granted.ID;
  }

  /** Renews every retry period; emits on `lost$` when the lease is gone or the deadline passed. */
  startHeartbeat(): void {
    if (this.heartbeat || this.closed) return;
    this.heartbeat = setInterval(() => void this.beat(), this.timing.retryPeriodMs);
    this.armDeadline();
  }

  /** Stops renewing (the lease lapses after its TTL unless renewed or revoked). */
  stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  /** Revokes the lease (deleting every key attached to it), waiting at most `timeoutMs`. */
  async revoke(timeoutMs: number): Promise<void> {
    this.stopHeartbeat();
    const id = this.leaseId;
    this.forget();
    if (id === undefined) return;
    try {
      await within(
        this.kv.leaseClient.leaseRevoke({ ID: id }, { deadline: Date.now() + timeoutMs }),
        timeoutMs,
      );
    } catch (err) {
      if (!(err instanceof EtcdLeaseInvalidError)) throw err;
    }
  }

  /** Stops the heartbeat and completes `lost$`. */
  close(): void {
    this.closed = true;
    this.stopHeartbeat();
    this.lostSubject.complete();
  }

  private async beat(): Promise<void> {
    const id = this.leaseId;
    if (this.renewing || id === undefined) return;
    this.renewing = true;
    const sentAt = monotonicNow();
    try {
      const remaining = await this.renewOnce(id);
      if (this.leaseId !== id || !this.heartbeat) return;
      if (remaining <= 0) {
        this.forget();
        this.stopHeartbeat();
        this.lostSubject.next('the lease expired or was revoked');
        return;
      }
      this.extend(sentAt, remaining);
      this.armDeadline();
    } catch (err) {
      if (err instanceof EtcdLeaseInvalidError && this.leaseId === id) {
        this.forget();
        this.stopHeartbeat();
        this.lostSubject.next('the lease expired or was revoked');
      }
      // other failures: the next beat retries; the deadline timer decides when it is too late
    } finally {
      this.renewing = false;
    }
  }

  private extend(sentAt: number, remainingSeconds: number): void {
    // The lease lives at least `remaining` seconds after etcd received the renewal (>= sentAt);
    // act for at most renewDeadline of it (less when etcd granted a shorter lease).
    const budget = Math.min(this.timing.renewDeadlineMs, (remainingSeconds * 1000 * 2) / 3);
    this.validUntilMs = Math.max(this.validUntilMs, sentAt + budget);
  }

  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(
      () => {
        this.deadlineTimer = undefined;
        if (!this.heartbeat) return;
        if (monotonicNow() >= this.validUntilMs) {
          this.stopHeartbeat();
          this.lostSubject.next(
            `no renewal confirmed within the renew deadline (${this.timing.renewDeadlineMs} ms)`,
          );
        } else {
          this.armDeadline();
        }
      },
      Math.max(0, this.validUntilMs - monotonicNow()),
    );
  }

  private forget(): void {
    this.leaseId = undefined;
    this.validUntilMs = 0;
  }

  private callTimeout(): number {
    return Math.max(1000, this.timing.retryPeriodMs);
  }

  /** One keep-alive on a short-lived stream; resolves with the remaining TTL in seconds. */
  private async renewOnce(id: string): Promise<number> {
    return keepAliveOnce(this.kv, id, this.callTimeout());
  }
}

import type { Logger } from '@nestjs/common';
import { EtcdLeaseInvalidError, type Namespace } from 'etcd3';
import { BehaviorSubject, type Observable } from 'rxjs';
import { backoffDelay } from '../common/backoff.js';
import { describeCause } from '../common/describe-cause.js';
import { within } from '../common/timing.js';
import type { RegistryStatus } from './service-instance.interface.js';

/** Thrown internally when etcd says the lease no longer exists. */
class LeaseGoneError extends Error {}

/** What the supervisor needs to know. @internal */
export interface LeaseSupervisorOptions {
  key: string;
  value: string;
  ttl: number;
  retry: { initialDelay: number; maxDelay: number };
  logger: Logger;
  /** Maps an etcd error to a readable one (permission, auth). */
  mapError: (err: unknown) => Error;
}

/**
 * Keeps one key alive under a lease: grant, put, heartbeat every `ttl / 3`; when the lease is lost
 * (expired while etcd was unreachable, revoked from outside) it grants a new one and puts the key
 * again, with jittered exponential backoff, for ever; `repair()` re-puts a key deleted from outside.
 * Every call has a deadline and every timer is cleared by `stop()`.
 * @internal
 */
export class LeaseSupervisor {
  private leaseId: string | undefined;
  private needsPut = true;
  private lastHeartbeat = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly statusSubject = new BehaviorSubject<RegistryStatus>('registering');
  private firstFailureLogged = false;

  /** `registering` → `registered` ⇄ `lost`, and `deregistered` after {@link stop}. */
  readonly status$: Observable<RegistryStatus> = this.statusSubject.asObservable();

  constructor(
    private readonly kv: Namespace,
    private readonly options: LeaseSupervisorOptions,
  ) {}

  get status(): RegistryStatus {
    return this.statusSubject.getValue();
  }

  /** The current lease id (decimal string), once granted. */
  get lease(): string | undefined {
    return this.leaseId;
  }

  start(): void {
    this.schedule(0);
  }

  /** The key was deleted from outside: put it again now. */
  repair(): void {
    if (this.stopped || this.needsPut) return;
    // Already lost (e.g. the lease expired during an outage and the re-list now shows the key
    // gone): the loss was logged once, and the retry loop puts the key back anyway.
    if (this.status !== 'lost') {
      this.options.logger.warn(
        `registration key ${this.options.key} was deleted from outside; putting it back`,
      );
    }
    this.needsPut = true;
    this.setStatus('lost');
    this.schedule(0);
  }

  /**
   * Stops heart-beating and, when `revoke` is set, revokes the lease (which deletes the key). Never
   * waits longer than `timeoutMs`.
   */
  async stop(revoke: boolean, timeoutMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + timeoutMs;
    if (this.inflight) await within(this.inflight, timeoutMs);
    const leaseId = this.leaseId;
    if (revoke && leaseId) {
      const remaining = Math.max(200, deadline - Date.now());
      try {
        await within(
          this.kv.leaseClient.leaseRevoke({ ID: leaseId }, { deadline: Date.now() + remaining }),
          remaining,
        );
      } catch (err) {
        if (!(err instanceof EtcdLeaseInvalidError)) {
          this.options.logger.warn(
            `could not revoke lease of ${this.options.key} (${describeCause(err)}); it expires within ${this.options.ttl}s`,
          );
        }
      }
    }
    this.setStatus('deregistered');
    this.statusSubject.complete();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run();
    }, ms);
  }

  private run(): void {
    if (this.inflight) {
      this.again = true;
      return;
    }
    this.inflight = this.step().finally(() => {
      this.inflight = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.schedule(0);
      }
    });
  }

  private async step(): Promise<void> {
    const { ttl } = this.options;
    // Heartbeat every ttl/3; give each call up to half the TTL (at least 2 s) so a slow etcd (a
    // busy disk delays every write) does not turn a merely slow registration into a failed one.
    const interval = Math.max(500, (ttl * 1000) / 3);
    const callTimeout = Math.max(2000, (ttl * 1000) / 2);
    const callOptions = () => ({ deadline: Date.now() + callTimeout });
    try {
      if (!this.leaseId) {
        const granted = await this.kv.leaseClient.leaseGrant({ TTL: ttl }, callOptions());
        this.leaseId = granted.ID;
        this.lastHeartbeat = Date.now();
        this.needsPut = true;
      } else if (!this.needsPut) {
        const remaining = await this.keepAliveOnce(callTimeout);
        if (remaining <= 0) throw new LeaseGoneError('lease expired');
        this.lastHeartbeat = Date.now();
      }
      if (this.needsPut) {
        await this.kv
          .put(this.options.key)
          .value(this.options.value)
          .lease(this.leaseId)
          .options(callOptions());
        this.needsPut = false;
        this.lastHeartbeat = Date.now();
      }
      if (this.stopped) return;
      this.failures = 0;
      this.firstFailureLogged = false;
      if (this.status !== 'registered') {
        this.options.logger.log(
          `registered ${this.options.key} (lease ${this.leaseId}, ttl ${ttl}s)`,
        );
      }
      this.setStatus('registered');
      this.schedule(interval);
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof LeaseGoneError || err instanceof EtcdLeaseInvalidError) {
        this.leaseId = undefined;
        this.needsPut = true;
        this.markLost('the lease expired or was revoked; granting a new one');
        this.schedule(backoffDelay(this.failures++, this.options.retry));
        return;
      }
      const reason = describeCause(this.options.mapError(err));
      this.failures++;
      if (this.status === 'registered' && Date.now() - this.lastHeartbeat > ttl * 1000) {
        this.markLost(`no heartbeat for over ${ttl}s (${reason}); retrying`);
      } else if (!this.firstFailureLogged) {
        this.firstFailureLogged = true;
        this.options.logger.warn(`heartbeat of ${this.options.key} failed (${reason}); retrying`);
      }
      this.schedule(Math.min(backoffDelay(this.failures, this.options.retry), interval));
    }
  }

  /** One heartbeat on a short-lived keep-alive stream; resolves with the remaining TTL. */
  private async keepAliveOnce(timeoutMs: number): Promise<number> {
    const stream = await this.kv.leaseClient.leaseKeepAlive({ deadline: Date.now() + timeoutMs });
    return new Promise<number>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stream.end();
        outcome();
      };
      const timer = setTimeout(
        () => settle(() => reject(new Error(`no keep-alive answer within ${timeoutMs} ms`))),
        timeoutMs,
      );
      stream.on('data', res => settle(() => resolve(Number(res.TTL))));
      stream.on('error', (err: unknown) =>
        settle(() => reject(err instanceof Error ? err : new Error(String(err)))),
      );
      stream.write({ ID: this.leaseId });
    });
  }

  /** One warning line per loss; the retries that follow stay quiet until it is registered again. */
  private markLost(reason: string): void {
    if (this.status !== 'lost') {
      this.options.logger.warn(`registration ${this.options.key} lost: ${reason}`);
    }
    this.firstFailureLogged = true;
    this.setStatus('lost');
  }

  private setStatus(status: RegistryStatus): void {
    if (this.statusSubject.getValue() !== status && !this.statusSubject.closed) {
      this.statusSubject.next(status);
    }
  }
}

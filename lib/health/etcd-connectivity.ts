import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { BehaviorSubject, distinctUntilChanged, type Observable } from 'rxjs';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { systemClock, type Clock } from '../common/clock.js';
import { describeCause } from '../common/describe-cause.js';
import { within } from '../common/timing.js';

/** How often the background probe asks etcd once started (by metrics). */
const PROBE_INTERVAL_MS = 5000;

/** What the module knows about its reach to etcd. */
export interface EtcdConnectivityState {
  /** Whether the last probe got an answer. */
  readonly connected: boolean;
  /** Epoch ms of the last answer from etcd (0 when there was none yet). */
  readonly lastContactAt: number;
  /** Epoch ms of the first failed probe after the last answer (while disconnected). */
  readonly disconnectedSince?: number;
  /** Why the last probe failed (while disconnected). */
  readonly reason?: string;
}

/** What the probe needs from the connection: one cheap, bounded request. @internal */
export interface ConnectivityPort {
  readonly isClosed: boolean;
  /** Asks etcd for its status (`Maintenance.Status`, no auth needed) within `timeoutMs`. */
  status(timeoutMs: number): Promise<unknown>;
}

/** The {@link ConnectivityPort} over the module's connection. @internal */
export function connectivityPort(connection: EtcdConnection): ConnectivityPort {
  return {
    get isClosed() {
      return connection.isClosed;
    },
    status: timeoutMs => connection.client.maintenance.status({ deadline: Date.now() + timeoutMs }),
  };
}

/**
 * Whether etcd answers this app: a cheap probe (`Maintenance.Status`, no auth needed, bounded)
 * made by the health indicator on each check and by a background loop while metrics are on. It
 * remembers since when etcd has been unreachable, so a health check can tolerate a short outage
 * (the module keeps serving its last good state meanwhile) and fail a long one. Durations are
 * measured on the monotonic clock ({@link outageMs}); the epoch fields of the state are for people.
 * @internal
 */
export class EtcdConnectivity implements OnApplicationShutdown {
  private readonly logger = new Logger('EtcdHealth');
  private readonly subject: BehaviorSubject<EtcdConnectivityState>;
  private inflight: Promise<EtcdConnectivityState> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Monotonic ms of the first failed probe after the last answer (while disconnected). */
  private downSince: number | undefined;

  /** The state, current value first. */
  readonly state$: Observable<EtcdConnectivityState>;

  /**
   * @param unreachableAtBoot etcd was not reached at boot (the config center then served its
   *   snapshot file).
   */
  constructor(
    private readonly port: ConnectivityPort,
    unreachableAtBoot: boolean,
    private readonly clock: Clock = systemClock,
  ) {
    const now = clock.wallNow();
    if (unreachableAtBoot) this.downSince = clock.now();
    this.subject = new BehaviorSubject<EtcdConnectivityState>(
      unreachableAtBoot
        ? {
            connected: false,
            lastContactAt: 0,
            disconnectedSince: now,
            reason: 'unreachable at boot',
          }
        : { connected: true, lastContactAt: now },
    );
    this.state$ = this.subject.pipe(
      distinctUntilChanged(
        (a, b) => a.connected === b.connected && a.disconnectedSince === b.disconnectedSince,
      ),
    );
  }

  /** The current state. */
  get state(): EtcdConnectivityState {
    return this.subject.getValue();
  }

  /** How long etcd has been unreachable (monotonic ms; 0 while it answers). */
  outageMs(): number {
    return this.downSince === undefined ? 0 : this.clock.now() - this.downSince;
  }

  /** Probes every few seconds until shutdown (idempotent). */
  startProbing(intervalMs = PROBE_INTERVAL_MS): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.probe(Math.min(2000, intervalMs)), intervalMs);
    this.timer.unref();
  }

  /** Asks etcd for its status (at most `timeoutMs`); concurrent calls share one request. */
  probe(timeoutMs = 1000): Promise<EtcdConnectivityState> {
    if (this.closed || this.port.isClosed) return Promise.resolve(this.state);
    this.inflight ??= this.ask(timeoutMs).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** @internal */
  onApplicationShutdown(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.subject.complete();
  }

  private async ask(timeoutMs: number): Promise<EtcdConnectivityState> {
    let failure: string | undefined;
    try {
      const answer = await within(this.port.status(timeoutMs), timeoutMs);
      if (!answer.settled) failure = `no answer within ${timeoutMs} ms`;
    } catch (err) {
      failure = describeCause(err);
    }
    if (this.closed) return this.state;
    const previous = this.state;
    const now = this.clock.wallNow();
    if (failure === undefined) {
      this.downSince = undefined;
      if (!previous.connected) {
        this.logger.log(
          `etcd answers again (unreachable since ${new Date(previous.disconnectedSince ?? now).toISOString()})`,
        );
      }
      this.subject.next({ connected: true, lastContactAt: now });
    } else {
      if (previous.connected) this.logger.warn(`etcd does not answer: ${failure}`);
      this.downSince ??= this.clock.now();
      this.subject.next({
        connected: false,
        lastContactAt: previous.lastContactAt,
        disconnectedSince: previous.disconnectedSince ?? now,
        reason: failure,
      });
    }
    return this.state;
  }
}

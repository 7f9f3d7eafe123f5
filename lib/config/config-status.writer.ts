import { Logger } from '@nestjs/common';
import type { Observable, Subscription } from 'rxjs';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { etcdAnswerCode } from '../client/etcd-errors.classifier.js';
import { describeCause } from '../common/describe-cause.js';
import type { InformerHandle, InformerPool } from '../watch/informer-pool.js';
import { SETTLED, SYNCED } from '../watch/informer.interfaces.js';
import {
  StatusCoalescer,
  coalescerSystemClock,
  type CoalescerClock,
  type CoalescerTiming,
  type ConfigStatus,
} from './config-status.js';
import type { EtcdConfigService } from './etcd-config.service.js';

/** Where JSON Schemas are published, content-addressed: `/config-schemas/<hash>`. @internal */
export const SCHEMA_PREFIX = '/config-schemas/';

/**
 * This app's registration, as the status writer needs it (the roof derives it from the registry,
 * which config never imports). @internal
 */
export interface StatusRegistration {
  readonly serviceName: string;
  readonly instanceId: string;
  /** The registration's etcd key: the status is written under the lease that holds it. */
  readonly key: string;
}

/** Options of a {@link ConfigStatusWriter}. @internal */
export interface StatusWriterOptions extends CoalescerTiming {
  /** e.g. `/config-status/`. */
  readonly reportPrefix: string;
  /** Wait before writing again after a failed write, ms. */
  readonly retryMs: number;
}

/** The timing of the module's writer: a burst is one write, a change is reported within 0.5 s. */
export const STATUS_TIMING = { debounceMs: 150, maxWaitMs: 500, retryMs: 1000 } as const;

/**
 * Keeps this instance's config status at `<reportPrefix><serviceName>/<instanceId>` (docs/cli.md)
 * under the registration's lease, so it vanishes with the instance, and publishes the JSON Schemas
 * the status references at `/config-schemas/<hash>` (created once, no lease). A config change only
 * marks the status dirty; the write runs later, coalesced ({@link StatusCoalescer}), and only when
 * the JSON differs from the last one written under the same lease. A new lease (re-registration)
 * gets the status written again.
 * @internal
 */
export class ConfigStatusWriter {
  private readonly logger = new Logger('EtcdConfig');
  private readonly coalescer: StatusCoalescer;
  private registration: StatusRegistration | undefined;
  private handle: InformerHandle | undefined;
  private readonly subscriptions: Subscription[] = [];
  private ownKey: Subscription | undefined;
  /** The lease of the registration key, as last seen. */
  private lease: string | undefined;
  private written: { lease: string; text: string } | undefined;
  private readonly schemas = new Set<string>();
  private failing = false;
  private retry: unknown;
  private stopped = false;
  /** Status writes done (for the bench and tests). */
  writes = 0;

  constructor(
    private readonly connection: EtcdConnection,
    private readonly informers: InformerPool,
    private readonly config: EtcdConfigService,
    private readonly options: StatusWriterOptions,
    private readonly clock: CoalescerClock = coalescerSystemClock,
  ) {
    this.coalescer = new StatusCoalescer(options, () => this.flush(), clock);
  }

  /** Follows this app's registration: writes while registered, under its current lease. */
  follow(registration$: Observable<StatusRegistration | undefined>): void {
    this.config.report.listener = () => this.coalescer.mark();
    this.subscriptions.push(
      registration$.subscribe(registration => this.onRegistration(registration)),
    );
  }

  /** Stops writing on shutdown. @internal */
  async onModuleDestroy(): Promise<void> {
    await this.stop();
  }

  /** Stops writing (the status key goes with the lease the registry revokes). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.config.report.listener = undefined;
    if (this.retry !== undefined) this.clock.clearTimeout(this.retry);
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    this.ownKey?.unsubscribe();
    await this.coalescer.stop();
    this.handle?.release();
    this.handle = undefined;
  }

  private onRegistration(registration: StatusRegistration | undefined): void {
    if (!registration || this.stopped || registration.key === this.registration?.key) return;
    this.registration = registration;
    this.ownKey?.unsubscribe();
    this.handle?.release();
    // The lease of the registration key, followed by a watch on that key alone (a prefix watch of
    // the key: the service's other instances are never seen, so a fleet's boot costs O(N) events):
    // a new lease after a re-registration is seen as a put.
    const handle = this.informers.acquire(registration.key);
    this.handle = handle;
    const check = (): void => {
      const lease = handle.informer.get(registration.key)?.lease;
      const current = lease && lease !== '0' ? lease : undefined;
      if (current === this.lease) return;
      this.lease = current;
      if (current) this.coalescer.mark();
    };
    this.ownKey = handle.informer.view$.subscribe(event => {
      // The map holds the registration key's state at each batch's end.
      if (event === SYNCED || event === SETTLED) check();
    });
  }

  private statusKey(registration: StatusRegistration): string {
    return `${this.options.reportPrefix}${registration.serviceName}/${registration.instanceId}`;
  }

  /** Writes the schemas not yet published, then the status if it changed. */
  private async flush(): Promise<void> {
    const registration = this.registration;
    const lease = this.lease;
    if (!registration || !lease || this.stopped) return;
    try {
      await this.publishSchemas();
      const status: ConfigStatus = {
        serviceName: registration.serviceName,
        instanceId: registration.instanceId,
        ...this.config.status(),
      };
      const text = JSON.stringify(status);
      if (this.written?.lease === lease && this.written.text === text) return;
      await this.connection.kv.put(this.statusKey(registration)).value(text).lease(lease).exec();
      this.written = { lease, text };
      this.writes++;
      if (this.failing) {
        this.failing = false;
        this.logger.log(`config status ${this.statusKey(registration)} written again`);
      }
    } catch (err) {
      if (this.stopped) return;
      if (etcdAnswerCode(err) === 'lease-not-found') {
        // The registration is getting a new lease: its put brings the status back.
        if (this.lease === lease) this.lease = undefined;
        return;
      }
      if (!this.failing) {
        this.failing = true;
        this.logger.warn(
          `could not write config status ${this.statusKey(registration)} (${describeCause(err)}); retrying`,
        );
      }
      this.retry ??= this.clock.setTimeout(() => {
        this.retry = undefined;
        this.coalescer.mark();
      }, this.options.retryMs);
    }
  }

  private async publishSchemas(): Promise<void> {
    const kv = this.connection.kv;
    for (const schema of this.config.publishedSchemas()) {
      if (this.schemas.has(schema.hash)) continue;
      const key = `${SCHEMA_PREFIX}${schema.hash}`;
      // Created once, by whichever instance comes first; the content is the hash's, so never updated.
      await kv.if(key, 'Create', '==', 0).then(kv.put(key).value(schema.text)).commit();
      this.schemas.add(schema.hash);
    }
  }
}

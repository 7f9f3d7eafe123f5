import {
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import type { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { Observable, defer, distinctUntilChanged, shareReplay } from 'rxjs';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { defaultInstanceId } from '../common/names.js';
import { scanDecoratedMethods } from '../common/provider-scanner.js';
import type { ResolvedEtcdOptions } from '../options/resolved-etcd-options.interface.js';
import type { InformerPool } from '../watch/informer-pool.js';
import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import { leaseTiming, type LeaseTiming } from '../lease/lease-timing.js';
import { etcdLeasePort } from '../lease/etcd-lease-port.js';
import { LeaseEngine } from '../lease/lease-engine.js';
import { etcdElectionPort } from './etcd-election-port.js';
import { LeaderElector, electionPrefix, leaderIdOf, leaderKey } from './leader-elector.js';
import {
  LEADER_GUARD,
  assertElectionName,
  leaderOnlyName,
  type LeaderGuard,
} from './leader-only.decorator.js';

/** Key prefix of elections (inside the module's namespace). */
export const ELECTION_PREFIX = '/elections/';

/** Longest wait for resigning on shutdown: `app.close()` never hangs because etcd is gone. */
const SHUTDOWN_TIMEOUT_MS = 3000;

/**
 * Leader election among the instances of a service, on etcd leases.
 *
 * Each election `name` is one key, `/elections/<name>/leader`, created only when absent and
 * attached to the candidate's lease (TTL = `registry.ttl`, default 10 s). The holder renews every
 * retry period (ttl / 5, at most 2 s) and stops leading when no renewal was confirmed within the
 * renew deadline (2/3 of the TTL), before etcd can expire its lease and let another instance in:
 * two instances never lead at once. A killed leader is replaced when its lease expires (within the
 * TTL); a leader that shuts down or resigns revokes its lease and is replaced at once.
 *
 * @example
 * ```ts
 * import { Injectable } from '@nestjs/common';
 * import { EtcdElectionService } from 'nest-etcd';
 *
 * @Injectable()
 * export class Janitor {
 *   constructor(private readonly election: EtcdElectionService) {
 *     this.election.isLeader$('janitor').subscribe(leading => console.log('leading:', leading));
 *   }
 *
 *   sweep(): void {
 *     if (!this.election.isLeader('janitor')) return;
 *     // only one instance gets here at a time
 *   }
 * }
 * ```
 */
export class EtcdElectionService
  implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy, LeaderGuard
{
  private readonly logger = new Logger('EtcdElection');
  private readonly electors = new Map<string, LeaderElector>();
  private readonly leaderStreams = new Map<string, Observable<string | undefined>>();
  private readonly decoratedNames = new Set<string>();
  private readonly warnedTargets = new Set<string>();
  private shuttingDown = false;

  /** This instance's id in elections: `registry.instanceId` when set, else a generated one. */
  readonly instanceId: string;
  /** Lease duration, renew deadline and retry period of every election. */
  readonly timing: LeaseTiming;
  /** The election `@LeaderOnly()` uses when no name is given. */
  readonly defaultElection: string;
  private readonly leases: LeaseEngine;

  /** @internal Created by EtcdModule; use injection. */
  constructor(
    private readonly connection: EtcdConnection,
    private readonly informers: InformerPool,
    options: ResolvedEtcdOptions,
    private readonly discovery?: DiscoveryService,
    private readonly scanner?: MetadataScanner,
  ) {
    const registry = options.registry;
    this.instanceId = registry === false ? defaultInstanceId() : registry.instanceId;
    this.timing = leaseTiming(registry === false ? 10 : registry.ttl);
    this.defaultElection = registry === false ? 'default' : registry.serviceName;
    this.leases = new LeaseEngine(etcdLeasePort(connection, 'campaign'));
  }

  /** Names of the elections this instance currently campaigns in. */
  get elections(): string[] {
    return [...this.electors.keys()];
  }

  /**
   * Whether this instance leads `name` right now. The first call joins the election (so it is
   * `false` until the campaign succeeded).
   */
  isLeader(name: string): boolean {
    if (this.shuttingDown) return false;
    return this.candidate(name).isLeader;
  }

  /**
   * Whether this instance leads `name`: the current value first, then each change. Subscribing joins
   * the election.
   */
  isLeader$(name: string): Observable<boolean> {
    assertElectionName(name);
    return defer(() => this.candidate(name).isLeader$);
  }

  /**
   * The instance id of the current leader of `name` (`undefined` while there is none): the current
   * value first, then each change. Observing does not join the election. While etcd is unreachable
   * it keeps the last leader it saw.
   */
  leader$(name: string): Observable<string | undefined> {
    assertElectionName(name);
    let stream = this.leaderStreams.get(name);
    if (!stream) {
      const key = leaderKey(ELECTION_PREFIX, name);
      stream = this.informers
        .observe(
          electionPrefix(ELECTION_PREFIX, name),
          informer =>
            new Observable<string | undefined>(subscriber =>
              informer.view$.subscribe(() => subscriber.next(leaderIdOf(informer.get(key)))),
            ),
        )
        .pipe(distinctUntilChanged(), shareReplay({ bufferSize: 1, refCount: true }));
      this.leaderStreams.set(name, stream);
    }
    return stream;
  }

  /**
   * Joins the election `name` (idempotent): this instance becomes leader when the key is free.
   * `isLeader`, `isLeader$` and `@LeaderOnly` join automatically.
   */
  campaign(name: string): void {
    this.candidate(name);
  }

  /**
   * Gives up leadership of `name` and leaves the election: when this instance leads, its lease is
   * revoked, which deletes the key, so another candidate takes over at once. A later `isLeader`,
   * `isLeader$` or `campaign` joins again.
   */
  async resign(name: string): Promise<void> {
    assertElectionName(name);
    const elector = this.electors.get(name);
    if (!elector) return;
    this.electors.delete(name);
    await elector.resign(SHUTDOWN_TIMEOUT_MS);
  }

  /** @internal Consulted by `@LeaderOnly` methods. */
  mayRun(name: string | undefined, target: string): boolean {
    if (this.shuttingDown) return false;
    const election = name ?? this.defaultElection;
    if (!this.electors.has(election) && !this.warnedTargets.has(target)) {
      this.warnedTargets.add(target);
      this.logger.warn(
        `${target} is @LeaderOnly("${election}") but that election was not joined at bootstrap; joining now`,
      );
    }
    return this.isLeader(election);
  }

  /** @internal Gives every provider with `@LeaderOnly` methods this service as its guard. */
  onModuleInit(): void {
    if (!this.discovery || !this.scanner) return;
    const { methods, notSingleton } = scanDecoratedMethods(
      this.discovery,
      this.scanner,
      method => leaderOnlyName(method),
      { controllers: true },
    );
    for (const { instance, metadata: name } of methods) {
      this.decoratedNames.add(name ?? this.defaultElection);
      Object.defineProperty(instance, LEADER_GUARD, {
        value: this,
        enumerable: false,
        configurable: true,
      });
    }
    for (const label of notSingleton) {
      this.logger.warn(
        `${label} is @LeaderOnly on a request-scoped or transient provider: it never runs (use a singleton provider)`,
      );
    }
  }

  /** @internal Joins every election named by a `@LeaderOnly` method. */
  onApplicationBootstrap(): void {
    for (const name of this.decoratedNames) this.campaign(name);
  }

  /** @internal Resigns every election before the client closes. */
  async onModuleDestroy(): Promise<void> {
    this.shuttingDown = true;
    const electors = [...this.electors.values()];
    this.electors.clear();
    await Promise.all(electors.map(elector => elector.resign(SHUTDOWN_TIMEOUT_MS)));
  }

  private candidate(name: string): LeaderElector {
    assertElectionName(name);
    let elector = this.electors.get(name);
    if (!elector) {
      if (this.shuttingDown || this.connection.isClosed) {
        throw new EtcdStoppedError(
          `joining election "${name}"`,
          'because the module is shutting down',
        );
      }
      elector = new LeaderElector(
        etcdElectionPort(this.connection, this.informers, electionPrefix(ELECTION_PREFIX, name)),
        this.leases,
        name,
        leaderKey(ELECTION_PREFIX, name),
        this.instanceId,
        this.timing,
        this.logger,
      );
      this.electors.set(name, elector);
      elector.start();
    }
    return elector;
  }
}

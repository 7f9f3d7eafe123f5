import { Logger } from '@nestjs/common';
import type { Etcd3 } from 'etcd3';
import { systemClock, type Clock } from '../common/clock.js';
import { describeCause } from '../common/describe-cause.js';
import { replaceHosts } from './etcd3-internals.adapter.js';

/** The hosts to use next, or `undefined` to keep the current ones. @internal */
export interface HostSyncPlan {
  readonly next?: string[];
  /** Hosts that were members of the cluster and are no longer. */
  readonly removed: string[];
}

/** `http://127.0.0.1:2379/` and `HTTP://127.0.0.1:2379` are one endpoint. @internal */
export function normalizeEndpoint(url: string): string {
  return url.trim().replace(/\/+$/, '').toLowerCase();
}

/**
 * Decides whether to follow the cluster's member list (pure, unit-tested).
 *
 * A host counts as a member URL once a member list named it (`known`, updated here). Only a host
 * that was a member and no longer is triggers a switch: a host that never was one (a TCP proxy, a
 * load balancer, a DNS name) is the operator's indirection and is never dropped, and a cluster that
 * only grew changes nothing. On a switch the client keeps its other hosts and adds every member it
 * did not use yet, so an app configured with the first members of a cluster still reaches it after
 * every one of them was replaced.
 * @internal
 */
export function planHostSync(
  using: readonly string[],
  members: readonly string[],
  known: Set<string>,
): HostSyncPlan {
  if (members.length === 0) return { removed: [] };
  const memberSet = new Set(members.map(normalizeEndpoint));
  for (const host of using) {
    if (memberSet.has(normalizeEndpoint(host))) known.add(normalizeEndpoint(host));
  }
  const removed = using.filter(
    host => known.has(normalizeEndpoint(host)) && !memberSet.has(normalizeEndpoint(host)),
  );
  if (removed.length === 0) return { removed };
  const usingSet = new Set(using.map(normalizeEndpoint));
  const next = [
    ...using.filter(host => !removed.includes(host)),
    ...members.filter(member => !usingSet.has(normalizeEndpoint(member))),
  ];
  // Never an empty list: with nothing left to add, keep what there is.
  return next.length > 0 ? { next, removed } : { removed: [] };
}

/**
 * `autoSyncEndpoints`: every `interval` ms, reads the cluster's member list and, when a host the
 * client uses was a member and is no longer one, switches the client to the members (one warning
 * line naming the configured hosts), as etcd's Go client does with `AutoSyncInterval`. A failed read
 * (etcd unreachable) changes nothing and is retried at the next interval. Each interval is jittered
 * by ±20 %.
 * @internal
 */
export class EndpointSync {
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly known = new Set<string>();
  private using: string[];
  private readonly listeners: Array<(hosts: readonly string[]) => void> = [];

  constructor(
    private readonly client: Etcd3,
    private readonly configured: readonly string[],
    private readonly interval: number,
    private readonly logger = new Logger('EtcdClient'),
    private readonly random: () => number = Math.random,
    private readonly clock: Clock = systemClock,
  ) {
    this.using = [...configured];
  }

  /** The hosts the client uses now. */
  get hosts(): readonly string[] {
    return this.using;
  }

  /**
   * Calls `listener` with the new host list each time the client is switched to it (the transport
   * policy sizes its retries and breakers from it).
   */
  onSwitch(listener: (hosts: readonly string[]) => void): void {
    this.listeners.push(listener);
  }

  /** Schedules the first sync (the timer never keeps the process alive). */
  start(): void {
    if (this.stopped || this.cancelTimer) return;
    this.schedule();
  }

  /** Clears the timer. */
  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  /** Reads the member list once and follows it when needed. Resolves when done; never rejects. */
  syncOnce(): Promise<void> {
    this.running ??= this.sync().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(): void {
    // Jittered (±20 %): a fleet booted or restarted together does not read the member list in the
    // same millisecond, interval after interval.
    const delay = Math.round(this.interval * (0.8 + this.random() * 0.4));
    this.cancelTimer = this.clock.setTimer(
      () => {
        this.cancelTimer = undefined;
        void this.syncOnce().finally(() => {
          if (!this.stopped) this.schedule();
        });
      },
      delay,
      { background: true },
    );
  }

  private async sync(): Promise<void> {
    let members: string[];
    try {
      const res = await this.client.cluster.memberList({});
      // A member added but not started yet has no client URL.
      members = res.members.flatMap(member => member.clientURLs ?? []);
    } catch (err) {
      if (!this.stopped) {
        this.logger.debug(`member list not read (${describeCause(err)}); hosts unchanged`);
      }
      return;
    }
    if (this.stopped) return;
    const plan = planHostSync(this.using, members, this.known);
    if (!plan.next) return;
    if (!replaceHosts(this.client, plan.next)) {
      this.logger.warn(
        `etcd host(s) ${plan.removed.join(', ')} are no longer members of the cluster, but this etcd3 ` +
          `version cannot switch hosts: set hosts (or ETCD_HOSTS) to the members ${members.join(', ')}`,
      );
      return;
    }
    this.using = plan.next;
    for (const listener of this.listeners) listener(plan.next);
    this.logger.warn(
      `etcd host(s) ${plan.removed.join(', ')} are no longer members of the cluster; following its ` +
        `member list: now using ${plan.next.join(', ')} (configured: ${this.configured.join(', ')}; ` +
        `update hosts / ETCD_HOSTS)`,
    );
  }
}

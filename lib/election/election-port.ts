import type { Observable } from 'rxjs';

/** The leader key as this instance's watch sees it. @internal */
export interface LeaderKeyView {
  /** The watch has listed the key and follows it (else it cannot tell who leads). */
  readonly synced: boolean;
  /** The watch reaches etcd. */
  readonly connected: boolean;
  /** The etcd revision the view reflects. */
  readonly revision: number;
  /** Lease of the key's holder (`undefined`: the key is absent). */
  readonly holderLease: string | undefined;
}

/** What a campaign transaction found. @internal */
export interface CampaignResult {
  /** Lease that holds the key after the transaction (ours when we won). */
  readonly holderLease: string | undefined;
  /** Revision of the transaction. */
  readonly revision: number;
}

/**
 * The few etcd operations a {@link LeaderElector} needs besides its lease (which the lease engine
 * keeps), so its rules are unit-tested against a fake (test/unit/leader-elector.spec.ts) and the
 * real adapter (`etcd-election-port.ts`) stays thin. Every call is bounded by `timeoutMs`.
 * @internal
 */
export interface ElectionPort {
  /** Creates `key` = `value` under `lease` only when the key is absent; else reads its holder. */
  campaign(key: string, value: string, lease: string, timeoutMs: number): Promise<CampaignResult>;
  /** The leader key: the current view first, then one per change of the key or of the watch. */
  observe(key: string): Observable<LeaderKeyView>;
  /** A readable, one-line reason for an error of this port. */
  describe(err: unknown): string;
}

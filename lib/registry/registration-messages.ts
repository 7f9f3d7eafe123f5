import type { LeaseLoss } from '../lease/lease-engine.js';
import type { KeyHolder } from './registration-port.js';

/**
 * Why a registration's lease was lost, for its one warning line: only the local clock gave up
 * (`expired`: etcd is asked before the lease is replaced) or etcd said the lease is gone.
 * @internal
 */
export function leaseLostReason(leaseId: string, loss: LeaseLoss, ttl: number): string {
  const silent = `${(loss.silentMs / 1000).toFixed(1)}s`;
  if (loss.cause === 'expired') {
    return (
      `no renewal of lease ${leaseId} confirmed for ${silent}, ` +
      `the ${ttl}s TTL (was the event loop blocked, or etcd unreachable?); ` +
      'keeping it if etcd says it is alive, else granting a new one'
    );
  }
  return loss.silentMs > ttl * 1000
    ? `lease ${leaseId} expired: no heartbeat reached etcd for ${silent}, ` +
        `longer than the ${ttl}s TTL (was the event loop blocked, or etcd unreachable?); granting a new one`
    : `lease ${leaseId} expired or was revoked; granting a new one`;
}

/** The one error line when another writer holds this app's registration key. @internal */
export function conflictMessage(key: string, holder: KeyHolder): string {
  return (
    `registration key ${key} is held by another writer (lease ${holder.lease}, value ${preview(holder.value)}): ` +
    'two instances use the same serviceName and instanceId, so this one is not published. ' +
    'It keeps serving and takes the key only when that lease ends; give each instance its own registry.instanceId'
  );
}

function preview(value: string): string {
  return value.length > 120 ? `${value.slice(0, 117)}...` : value;
}

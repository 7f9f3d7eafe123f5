import type { Namespace } from 'etcd3';

/**
 * One lease keep-alive round trip on a short-lived stream: writes the lease id, resolves with the
 * TTL (seconds) etcd reports back (0 when the lease is gone) and ends the stream. Bounded by
 * `timeoutMs` both as the call's gRPC deadline and as a timer on the answer, so a dead etcd never
 * leaves a heartbeat hanging. Rejects with the stream's own error, as etcd3 raised it (callers classify it).
 *
 * Used by every lease holder of the module (self-registration, elections, locks): a short stream
 * per heartbeat instead of etcd3's long-lived `lease.keepalive()`, so a broken stream can never
 * outlive a heartbeat.
 * @internal
 */
export async function keepAliveOnce(
  kv: Namespace,
  leaseId: string,
  timeoutMs: number,
): Promise<number> {
  const stream = await kv.leaseClient.leaseKeepAlive({ deadline: Date.now() + timeoutMs });
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
    stream.write({ ID: leaseId });
  });
}

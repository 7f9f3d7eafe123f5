import type { Watcher } from 'etcd3';
import { Observable } from 'rxjs';
import type { InstanceStatus, RolloutEvent } from './admin.interfaces.js';
import { type AdminContext, keyOf, textOf } from './admin-context.js';
import { reachOf } from './fleet-layers.js';
import { type Fleet, parseStatus } from './fleet-reader.js';
import type { CandidateValidation } from './candidate-validation.js';

/**
 * kubectl rollout status, for config: follows the status keys of the instances a write of
 * `etcdKey` at `revision` reaches, and emits one event per instance as it applies or rejects it
 * (an instance whose value is shadowed by a higher layer at once as `shadowed`; one whose status
 * vanished as `gone`); after `timeoutMs`, `timeout` for the rest. Completes when every instance has
 * an event. @internal
 */
export function followRollout(
  ctx: AdminContext,
  load: () => Promise<{ fleet: Fleet; validation: CandidateValidation }>,
  etcdKey: string,
  revision: number,
  timeoutMs: number,
): Observable<RolloutEvent> {
  return new Observable<RolloutEvent>(subscriber => {
    let closed = false;
    let watcher: Watcher | undefined;
    let cancelTimer: (() => void) | undefined;
    const pending = new Set<string>();
    const finish = () => {
      if (closed) return;
      closed = true;
      cancelTimer?.();
      void watcher?.cancel().catch(() => undefined);
      subscriber.complete();
    };
    const emit = (event: RolloutEvent) => {
      if (closed || !pending.delete(event.instanceId)) return;
      subscriber.next(event);
      if (pending.size === 0) finish();
    };
    const check = (status: InstanceStatus) => {
      const event = outcome(status, etcdKey, revision);
      if (event) emit(event);
    };
    void (async () => {
      const { fleet, validation } = await load();
      const statusPrefix = `${ctx.prefixes.status}${fleet.service}/`;
      const affected = await validation.affected(etcdKey);
      for (const row of affected) pending.add(row.instanceId);
      if (pending.size === 0) return finish();
      cancelTimer = ctx.clock.setTimer(() => {
        for (const instanceId of [...pending]) emit({ instanceId, state: 'timeout' });
        finish();
      }, timeoutMs);
      for (const row of affected) {
        if (row.shadowedBy) {
          emit({
            instanceId: row.instanceId,
            state: 'shadowed',
            reason: `shadowed by ${row.shadowedBy}`,
          });
        }
      }
      // list, then watch from the list's revision: no status change is missed in between
      const listed = await ctx.call('list config statuses under', statusPrefix, () =>
        ctx.kv.getAll().prefix(statusPrefix).exec(),
      );
      if (closed) return;
      const parse = (kv: { key: Buffer; value: Buffer }) =>
        parseStatus(
          fleet.service,
          keyOf(kv as never).slice(statusPrefix.length),
          textOf(kv as never),
          true,
        );
      const seen = new Set<string>();
      for (const kv of listed.kvs) {
        const status = parse(kv);
        if (!status) continue;
        seen.add(status.instanceId);
        check(status);
      }
      for (const instanceId of [...pending]) {
        if (!seen.has(instanceId))
          emit({ instanceId, state: 'gone', reason: 'its status key is gone' });
      }
      if (closed) return;
      watcher = await ctx.call('watch config statuses under', statusPrefix, () =>
        ctx.kv
          .watch()
          .prefix(statusPrefix)
          .startRevision(String(Number(listed.header.revision) + 1))
          .create(),
      );
      if (closed) {
        void watcher.cancel().catch(() => undefined);
        return;
      }
      watcher.on('put', kv => {
        const status = parse(kv);
        if (status) check(status);
      });
      watcher.on('delete', kv => {
        const instanceId = keyOf(kv).slice(statusPrefix.length);
        emit({ instanceId, state: 'gone', reason: 'the instance went away' });
      });
      watcher.on('error', err => {
        if (closed) return;
        closed = true;
        cancelTimer?.();
        subscriber.error(ctx.connection.mapError(err, 'watch config statuses under', statusPrefix));
      });
    })().catch((err: unknown) => {
      if (closed) return;
      closed = true;
      cancelTimer?.();
      subscriber.error(err);
    });
    return () => {
      closed = true;
      cancelTimer?.();
      void watcher?.cancel().catch(() => undefined);
    };
  });
}

/** Whether an instance's status says it applied or rejected the write at `revision`. @internal */
export function outcome(
  status: InstanceStatus,
  etcdKey: string,
  revision: number,
): RolloutEvent | undefined {
  const reach = reachOf(
    { service: status.serviceName, instances: [], statuses: [status] },
    etcdKey,
  )[0];
  if (!reach) return undefined;
  const key = reach.keyStatus;
  if (key?.state === 'rejected' && (key.rejectedRevision ?? 0) >= revision) {
    const event: RolloutEvent = {
      instanceId: status.instanceId,
      state: 'rejected',
      servedRevision: key.revision,
    };
    if (key.reason !== undefined) event.reason = key.reason;
    return event;
  }
  if (status.revision >= revision || (key && key.revision >= revision)) {
    const event: RolloutEvent = { instanceId: status.instanceId, state: 'applied' };
    if (key) event.servedRevision = key.revision;
    return event;
  }
  return undefined;
}

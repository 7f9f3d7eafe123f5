import { EtcdLeaseInvalidError } from 'etcd3';
import { Observable } from 'rxjs';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { systemClock, type Clock } from '../common/clock.js';
import { describeCause } from '../common/describe-cause.js';
import { LeaseGoneError } from '../lease/lease-port.js';
import type { KeyHolder, OwnKeyEvent, RegistrationPort } from './registration-port.js';

/** Pause before a single-key watch that etcd cancelled (compaction, permission) is created again. */
const REWATCH_DELAY_MS = 1000;

/**
 * The {@link RegistrationPort} over the module's connection: put and get with a gRPC deadline, and
 * the own-key watch as a single-key etcd watch on the client's shared watch stream. It costs O(1)
 * per instance: the registration never lists nor follows the other instances of its service
 * (watching the service prefix made N registrations cost O(N²) events). etcd3 resumes a
 * watch from its last revision after a reconnect; the port then reports `resync`, so the
 * registration reads its key once in case a change fell between the two.
 * @internal
 */
export function etcdRegistrationPort(
  connection: EtcdConnection,
  operationKey: string,
  clock: Clock = systemClock,
): RegistrationPort {
  const kv = connection.kv;
  const deadline = (timeoutMs: number) => ({ deadline: Date.now() + timeoutMs });

  return {
    async put(key, value, lease, timeoutMs) {
      try {
        const res = await kv.put(key).value(value).lease(lease).options(deadline(timeoutMs));
        return Number(res.header.revision);
      } catch (err) {
        if (err instanceof EtcdLeaseInvalidError) throw new LeaseGoneError(describeCause(err));
        throw err;
      }
    },

    async get(key, timeoutMs): Promise<KeyHolder | undefined> {
      const res = await kv.get(key).options(deadline(timeoutMs)).exec();
      const kvs = res.kvs[0];
      if (!kvs) return undefined;
      return { value: kvs.value.toString('utf8'), lease: String(kvs.lease) };
    },

    watch(key) {
      return new Observable<OwnKeyEvent>(subscriber => {
        let closed = false;
        let cancelRewatch: (() => void) | undefined;
        let cancelWatcher: (() => void) | undefined;
        const open = () => {
          let disconnected = false;
          let started = false;
          const watcher = kv.watch().key(key).watcher();
          watcher.on('put', res =>
            subscriber.next({
              type: 'put',
              lease: String(res.lease),
              value: res.value.toString('utf8'),
              revision: Number(res.mod_revision),
            }),
          );
          watcher.on('delete', res =>
            subscriber.next({ type: 'delete', revision: Number(res.mod_revision) }),
          );
          watcher.on('disconnected', () => (disconnected = true));
          watcher.on('connected', () => {
            if (disconnected || started) subscriber.next({ type: 'resync' });
            disconnected = false;
            started = true;
          });
          // etcd cancelled the watch (compaction of its revision, permission): etcd3 has dropped
          // it; build a new one and read the key, since changes may have been missed in between.
          watcher.on('error', () => {
            cancelWatcher = undefined;
            if (!closed) rewatch();
          });
          cancelWatcher = () => {
            watcher.removeAllListeners();
            watcher.on('error', () => undefined);
            watcher.cancel().catch(() => undefined);
          };
        };
        const rewatch = () => {
          cancelRewatch = clock.setTimer(
            () => {
              cancelRewatch = undefined;
              if (closed) return;
              subscriber.next({ type: 'resync' });
              open();
            },
            REWATCH_DELAY_MS,
            { background: true },
          );
        };
        open();
        return () => {
          closed = true;
          cancelRewatch?.();
          cancelWatcher?.();
        };
      });
    },

    describe(err) {
      if (err instanceof LeaseGoneError) return err.message;
      return connection.describeFailure(err, 'register', operationKey);
    },
  };
}

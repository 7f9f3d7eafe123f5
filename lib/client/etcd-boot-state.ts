import type { EtcdConnectionError } from '../errors/etcd-connection.error.js';
import type { EtcdConnection } from './etcd-connection.js';

/**
 * What the module learned when it opened its connection at boot, injected into the providers that
 * decide on it (the config center boots from its snapshot file when etcd was unreachable; health
 * starts disconnected) rather than left as a mutable field of the connection.
 * @internal
 */
export class EtcdBootState {
  constructor(
    /** The module's connection (checked, or unreachable when {@link unreachable} is set). */
    readonly connection: EtcdConnection,
    /**
     * Why etcd was unreachable at boot, when the module may still boot (a config snapshot file is
     * configured): the config center decides, in one place, and rethrows it when it cannot.
     */
    readonly unreachable?: EtcdConnectionError,
  ) {}
}

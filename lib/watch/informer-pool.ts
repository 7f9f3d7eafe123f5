import { Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import { systemClock, type InformerPort } from './informer-port.interface.js';
import type {
  InformerDependencies,
  InformerOptions,
  InformerResync,
  InformerSetup,
} from './informer.interfaces.js';
import { PrefixInformer } from './prefix-informer.js';
import { WatchOutages } from './watch-outages.js';

interface PoolEntry {
  informer: PrefixInformer;
  refs: number;
  pinned: boolean;
}

/** A hold on a shared informer; call `release()` once when done. */
export interface InformerHandle {
  readonly informer: PrefixInformer;
  release(): void;
}

/**
 * Keeps one {@link PrefixInformer} per prefix, shared by every subscriber and ref-counted: the first
 * hold starts it, the last release stops it (cancelling its etcd watcher) unless it is pinned. All
 * informers use the module's one client, so etcd3 multiplexes their watchers over one gRPC stream,
 * and share one outage log ({@link WatchOutages}): one line per outage, not one per watch.
 *
 * A provider of its own, built on the connection: it stops every informer before the client closes.
 * @internal
 */
export class InformerPool implements BeforeApplicationShutdown {
  private readonly entries = new Map<string, PoolEntry>();
  private closed = false;
  private readonly logger = new Logger('EtcdInformer');
  private readonly resyncsSubject = new Subject<InformerResync>();
  private privateInformers = 0;
  private readonly dependencies: InformerDependencies;

  /** Every re-list (after the first) of every informer of this pool, for metrics. */
  readonly resyncs$: Observable<InformerResync> = this.resyncsSubject.asObservable();

  constructor(
    private readonly port: InformerPort,
    private readonly options: InformerOptions,
    dependencies: InformerDependencies = {},
  ) {
    // One outage log for every informer of the app: they share one watch stream, so an etcd outage
    // is one warning and one recovery line, however many prefixes are watched.
    this.dependencies = {
      ...dependencies,
      outages:
        dependencies.outages ??
        new WatchOutages(dependencies.clock ?? systemClock, new Logger('EtcdInformer')),
    };
  }

  /** Number of live informers. */
  get size(): number {
    return this.entries.size;
  }

  /** The live informer of a prefix, if any (no hold is taken). */
  peek(prefix: string): PrefixInformer | undefined {
    return this.entries.get(prefix)?.informer;
  }

  /**
   * Takes a hold on the informer of `prefix`, starting it when it is new. A pinned informer lives
   * until the pool closes. An informer with a `transform` keeps entries in its owner's form: it is
   * never shared, each such hold gets its own.
   */
  acquire(prefix: string, options: { pinned?: boolean } & InformerSetup = {}): InformerHandle {
    if (this.closed) {
      throw new EtcdStoppedError(`watch on "${prefix}"`, 'because the etcd module is shut down');
    }
    const owned = options.transform !== undefined;
    const poolKey = owned ? `${prefix}\u0000${++this.privateInformers}` : prefix;
    let entry = this.entries.get(poolKey);
    if (!entry) {
      entry = {
        informer: new PrefixInformer(this.port, prefix, this.options, this.dependencies, {
          transform: options.transform,
        }),
        refs: 0,
        pinned: false,
      };
      this.entries.set(poolKey, entry);
      entry.informer.resyncs$.subscribe(resync => this.resyncsSubject.next(resync));
      entry.informer.start();
    }
    entry.refs++;
    entry.pinned ||= options.pinned === true;
    let released = false;
    const held = entry;
    return {
      informer: held.informer,
      release: () => {
        if (released) return;
        released = true;
        held.refs--;
        if (held.refs <= 0 && !held.pinned && this.entries.get(poolKey) === held) {
          this.entries.delete(poolKey);
          held.informer
            .stop()
            .catch((err: unknown) => this.logger.warn(`stopping informer failed: ${String(err)}`));
        }
      },
    };
  }

  /**
   * An observable that holds the informer of `prefix` for as long as it is subscribed and emits what
   * `project` derives from it. It errors with the informer's {@link PrefixInformer.failure} when etcd
   * refuses the first list (permission denied), so a subscriber hears at once instead of waiting.
   */
  observe<T>(prefix: string, project: (informer: PrefixInformer) => Observable<T>): Observable<T> {
    return new Observable<T>(subscriber => {
      const handle = this.acquire(prefix);
      const informer = handle.informer;
      const subscription = project(informer).subscribe(subscriber);
      if (!informer.state.synced) {
        informer.ready().catch(() => {
          const failure = informer.failure;
          if (failure && !informer.state.synced) subscriber.error(failure);
        });
      }
      return () => {
        subscription.unsubscribe();
        handle.release();
      };
    });
  }

  /**
   * Stops every informer after the services released theirs (`onModuleDestroy`) and before the
   * connection closes the client (`onApplicationShutdown`). @internal
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.close();
  }

  /** Stops every informer. */
  async close(): Promise<void> {
    this.closed = true;
    this.resyncsSubject.complete();
    const informers = [...this.entries.values()].map(entry => entry.informer);
    this.entries.clear();
    await Promise.all(informers.map(informer => informer.stop()));
  }
}

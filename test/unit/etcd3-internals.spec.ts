import { Channel, Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import {
  Etcd3,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  isRecoverableError,
  type IKeyValue,
  type IWatchResponse,
  type Namespace,
} from 'etcd3';
import { noop } from 'cockatiel';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import {
  ETCD3_INTERNALS_PINNED,
  channelCredentialsOf,
  currentHosts,
  forgetWatchers,
  hideClientOptions,
  interceptStreamFailures,
  interceptWatchCancels,
  invalidateAuthToken,
  markNotRecoverable,
  omitIpServername,
  objectsHoldingOptions,
  onCallEnded,
  onWatchResponse,
  rebuildWatchStream,
  replaceHosts,
  routedChannel,
  withChannelFactory,
} from '../../lib/client/etcd3-internals.adapter.js';
import { TransportPolicy } from '../../lib/client/transport-policy.js';
import { resolveEtcdOptions } from '../../lib/options/etcd-options.resolver.js';
import { decodeKey } from '../../lib/watch/etcd-key.js';
import { waitFor } from '../support/index.js';

/**
 * Pins every etcd3 / grpc-js internal that lib/client/etcd3-internals.adapter.ts relies on against
 * the INSTALLED versions: when an upgrade changes one, this spec fails (read the adapter's comment
 * on the failing function, adapt it, then bump ETCD3_INTERNALS_PINNED). No etcd is needed.
 */

const require = createRequire(import.meta.url);
const versionOf = (pkg: string) =>
  (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string })
    .version;

/** etcd3's ConnectionPool (not exported by its index). */
interface PoolInternals {
  hosts: Array<{ resetAllServices(): void }>;
  withConnection<T>(service: string, fn: () => Promise<T>): Promise<T>;
  close(): void;
}
const { ConnectionPool } = require('etcd3/lib/connection-pool.js') as {
  ConnectionPool: new (options: object) => PoolInternals;
};

/** A stand-in for etcd's watch stream (a grpc-js duplex call). */
class FakeWatchStream extends EventEmitter {
  readonly written: unknown[] = [];
  cancelled = false;
  write(message: unknown): boolean {
    this.written.push(message);
    return true;
  }
  cancel(): void {
    this.cancelled = true;
  }
}

/** A namespace whose watch manager talks to a fake stream instead of etcd. */
function namespaceWithFakeStream(client: Etcd3): { kv: Namespace; stream: FakeWatchStream } {
  const kv = client.namespace('/pinned/');
  const stream = new FakeWatchStream();
  const manager = (kv as unknown as { watchManager: { client: { watch(): Promise<unknown> } } })
    .watchManager;
  manager.client.watch = () => Promise.resolve(stream);
  return { kv, stream };
}

const flush = () => new Promise(resolve => setImmediate(resolve));

describe('etcd3 / grpc-js internals used by the adapter (pinned)', () => {
  const clients: Etcd3[] = [];
  const newClient = (auth = false) => {
    const client = new Etcd3({
      hosts: 'http://127.0.0.1:1',
      auth: auth ? { username: 'u', password: 'p' } : undefined,
    });
    clients.push(client);
    return client;
  };
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
  });

  it('the installed versions are the pinned ones', () => {
    expect(versionOf('etcd3')).toBe(ETCD3_INTERNALS_PINNED.etcd3);
    expect(versionOf('@grpc/grpc-js').startsWith(ETCD3_INTERNALS_PINNED.grpcJs)).toBe(true);
  });

  it('withChannelFactory: grpc-js clients built from one options object all use the factory', () => {
    const channels: Channel[] = [];
    const options = withChannelFactory(
      { 'grpc.keepalive_time_ms': 1000 },
      (target, creds, rest) => {
        const clean = { ...rest };
        delete clean.channelFactoryOverride;
        const channel = new Channel(target, creds, clean);
        channels.push(channel);
        return channel;
      },
    );
    const first = new Client('127.0.0.1:1', credentials.createInsecure(), options);
    const second = new Client('127.0.0.1:1', credentials.createInsecure(), options);
    try {
      expect(channels).toHaveLength(2);
      expect(first.getChannel()).toBe(channels[0]);
      expect(second.getChannel()).toBe(channels[1]);
    } finally {
      first.close();
      second.close();
    }
  });

  it('omitIpServername: TLS connectors send no servername for an IP host, keep it for a name', () => {
    expect(channelCredentialsOf(newClient())).toBeDefined();
    const secure = credentials.createSsl();
    expect(omitIpServername(secure, host => isIP(host) !== 0)).toBe(true);
    const connect = (
      secure as unknown as Record<string, (...a: unknown[]) => unknown>
    )._createSecureConnector!.bind(secure);
    const optionsFor = (authority: string) =>
      (
        connect({ scheme: 'dns', authority: undefined, path: authority }, {}) as {
          connectionOptions: { servername?: string; host?: string };
        }
      ).connectionOptions;
    expect(optionsFor('127.0.0.1:2379')).toMatchObject({ host: '127.0.0.1' });
    expect(optionsFor('127.0.0.1:2379').servername).toBeUndefined();
    expect(optionsFor('etcd.example:2379').servername).toBe('etcd.example');
  });

  it('invalidateAuthToken finds the authenticator; objectsHoldingOptions finds pool and authenticator', () => {
    const client = newClient(true);
    expect(invalidateAuthToken(client)).toBe(true);
    const labels = objectsHoldingOptions(client).map(found => found.label);
    expect(labels).toEqual(['Etcd3', 'ConnectionPool', 'Authenticator']);
    // each of them really holds the password (that is why they are hidden)
    for (const { target } of objectsHoldingOptions(client).slice(1)) {
      expect(JSON.stringify((target as { options?: unknown }).options)).toContain('"password":"p"');
    }
  });

  it('hideClientOptions: inspect() and JSON of the client, its pool and authenticator never show the password', () => {
    const client = newClient(true);
    hideClientOptions(client);
    for (const { target, label } of objectsHoldingOptions(client)) {
      expect(inspect(target)).toBe(`${label} { [options hidden by nest-etcd] }`);
      expect(JSON.stringify(target)).not.toContain('"p"');
    }
  });

  it('routedChannel + onCallEnded: a grpc-js client calls through the routing, and each status ends the call first', async () => {
    const real = new Channel('127.0.0.1:1', credentials.createInsecure(), {});
    const events: string[] = [];
    const handle = routedChannel(real, {
      close: () => events.push('close'),
      createCall: () => (method, deadline, host, parent, flags) => {
        events.push(`createCall ${method}`);
        const call = real.createCall(method, deadline, host, parent, flags);
        onCallEnded(call, () => events.push('ended'));
        return call;
      },
      channel: () => real,
    });
    const client = new Client('127.0.0.1:1', credentials.createInsecure(), {
      channelOverride: handle,
    });
    try {
      expect(client.getChannel().getTarget()).toBe(real.getTarget()); // other members: routing.channel()
      const error = await new Promise<ServiceError | null>(resolve => {
        client.makeUnaryRequest(
          '/pinned.Service/Method',
          (value: Buffer) => value,
          (value: Buffer) => value,
          Buffer.alloc(0),
          { deadline: Date.now() + 5_000 },
          err => {
            events.push('listener');
            resolve(err);
          },
        );
      });
      expect(error?.code).toBe(status.UNAVAILABLE); // nothing listens on port 1
      expect(events).toEqual(['createCall /pinned.Service/Method', 'ended', 'listener']);
      client.close();
      expect(events.at(-1)).toBe('close');
    } finally {
      real.close();
    }
  });

  it('replaceHosts: the pool calls the new hosts, keeps the ones that stay, closes the others, and the authenticator follows', async () => {
    const factoryHosts: string[] = [];
    const client = new Etcd3({
      hosts: ['http://127.0.0.1:1', 'http://127.0.0.1:2'],
      faultHandling: {
        host: (host: string) => {
          factoryHosts.push(host);
          return noop;
        },
      },
    });
    clients.push(client);
    const pool = (client as unknown as { pool: PoolInternals & { options: { hosts: unknown } } })
      .pool;
    expect(currentHosts(client)).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    const staying = pool.hosts[1];
    const leaving = pool.hosts[0] as unknown as { closed: boolean };
    factoryHosts.length = 0;

    expect(replaceHosts(client, ['http://127.0.0.1:2', 'http://127.0.0.1:3'])).toBe(true);
    expect(currentHosts(client)).toEqual(['127.0.0.1:2', '127.0.0.1:3']);
    expect(pool.hosts[0]).toBe(staying); // its connections and breaker are kept
    expect(pool.hosts[1]).toBeInstanceOf((staying as object).constructor as new () => object);
    expect(leaving.closed).toBe(true);
    // The new host got its fault handling from the client's options, like etcd3 builds it.
    expect(factoryHosts).toEqual(['http://127.0.0.1:3']);
    // The Authenticator reads the pool's options on each authentication.
    expect(pool.options.hosts).toEqual(['http://127.0.0.1:2', 'http://127.0.0.1:3']);
    const authenticator = objectsHoldingOptions(client)[2]!.target as { options: unknown };
    expect(authenticator.options).toBe(pool.options);
    // Calls pick among the new hosts only.
    const picked = new Set<string>();
    for (let i = 0; i < 20; i++) {
      await pool
        .withConnection('KV', (async ({ resource }: { resource: { host: string } }) => {
          picked.add(resource.host);
        }) as unknown as () => Promise<void>)
        .catch(() => undefined);
    }
    expect([...picked].sort()).toEqual(['127.0.0.1:2', '127.0.0.1:3']);
  });

  it('markNotRecoverable removes the mark etcd3 sets in its error constructors', () => {
    const err = new GRPCResourceExhastedError(
      '8 RESOURCE_EXHAUSTED: etcdserver: request is too large',
    );
    expect(isRecoverableError(err)).toBe(true);
    expect(isRecoverableError(markNotRecoverable(err))).toBe(false);
  });

  it('the connection pool resets a host only on recoverable errors, and our policy keeps answers out', async () => {
    const options = resolveEtcdOptions({ hosts: 'http://127.0.0.1:1' }, {});
    const pool = new ConnectionPool({
      hosts: options.hosts,
      faultHandling: new TransportPolicy(options).faultHandling(),
    });
    try {
      const host = pool.hosts[0]!;
      let resets = 0;
      host.resetAllServices = () => {
        resets++;
      };
      const answer = new GRPCResourceExhastedError(
        '8 RESOURCE_EXHAUSTED: etcdserver: mvcc: database space exceeded',
      );
      await expect(pool.withConnection('KV', () => Promise.reject(answer))).rejects.toBe(answer);
      expect(resets).toBe(0);
      const transport = new GRPCUnavailableError('14 UNAVAILABLE: read ECONNRESET');
      await expect(pool.withConnection('KV', () => Promise.reject(transport))).rejects.toBe(
        transport,
      );
      expect(resets).toBe(1);
    } finally {
      pool.close();
    }
  });

  it('interceptStreamFailures sees a stream failure before etcd3 resets the host', () => {
    const client = newClient();
    const pool = (
      client as unknown as { pool: PoolInternals & { markFailed(h: unknown, e: unknown): void } }
    ).pool;
    const host = pool.hosts[0]!;
    let resets = 0;
    host.resetAllServices = () => {
      resets++;
    };
    const seen: unknown[] = [];
    let verdict: 'forward' | 'ignore' = 'ignore';
    expect(
      interceptStreamFailures(client, error => {
        seen.push(error);
        return verdict;
      }),
    ).toBe(true);
    const failure = new GRPCUnavailableError('14 UNAVAILABLE: Connection dropped');
    pool.markFailed(host, failure);
    expect(seen).toEqual([failure]);
    expect(resets).toBe(0);
    verdict = 'forward';
    pool.markFailed(host, failure);
    expect(resets).toBe(1);
  });

  it('onWatchResponse: the handler sees a response before etcd3 strips the namespace and emits put', async () => {
    const client = newClient();
    const { kv, stream } = namespaceWithFakeStream(client);
    const watcher = kv.watch().prefix('a').watcher();
    await flush();
    expect(stream.written).toHaveLength(1); // the create request
    const seen: string[] = [];
    // Installed after etcd3's own 'data' listener (the Watcher constructor's), as the port does.
    const detach = onWatchResponse(watcher, (res: IWatchResponse) => {
      for (const event of res.events) seen.push(`handler ${event.kv.key.toString()}`);
    });
    watcher.on('put', (kv: IKeyValue) => seen.push(`put ${kv.key.toString()}`));
    stream.emit('data', {
      created: true,
      canceled: false,
      watch_id: '7',
      header: { revision: '4' },
      events: [],
    });
    expect(watcher.id).toBe('7');

    const response = (key: string, revision: number) => ({
      created: false,
      canceled: false,
      watch_id: '7',
      header: { revision: String(revision) },
      events: [
        {
          type: 'Put',
          kv: {
            key: Buffer.from(key),
            value: Buffer.from('v'),
            mod_revision: String(revision),
            create_revision: String(revision),
            version: '1',
            lease: '0',
          },
        },
      ],
    });
    stream.emit('data', response('/pinned/a1', 5));
    // First the handler, with the namespace's bytes still in front; then etcd3's put, without.
    expect(seen).toEqual(['handler /pinned/a1', 'put a1']);
    // What the port does with them: skips the namespace's bytes.
    expect(decodeKey(Buffer.from('/pinned/a1'), Buffer.byteLength('/pinned/'))).toBe('a1');
    // etcd3's listener still ran after it (it stores the resume revision).
    expect(watcher.lastRevision()).toBe('6');

    detach();
    seen.length = 0;
    stream.emit('data', response('/pinned/a2', 6));
    expect(seen).toEqual(['put a2']);
    expect(watcher.listenerCount('data')).toBe(1); // etcd3's own, untouched
  });

  it('the watch manager: rebuild, cancel interception and forgetting watchers', async () => {
    const client = newClient();
    const { kv, stream } = namespaceWithFakeStream(client);
    // idle (no stream yet): nothing to rebuild
    expect(rebuildWatchStream(kv, new Error('x'))).toBe(false);

    const reasons: string[] = [];
    let verdict: 'forward' | 'swallow' = 'swallow';
    expect(
      interceptWatchCancels(kv, reason => {
        reasons.push(reason);
        return verdict;
      }),
    ).toBe(true);

    const watcher = kv.watch().prefix('a').watcher();
    const errors: unknown[] = [];
    const disconnects: unknown[] = [];
    watcher.on('error', err => errors.push(err));
    watcher.on('disconnected', err => disconnects.push(err));
    await flush();
    expect(stream.written).toHaveLength(1); // the create request

    // a cancelled create: swallowed, the watcher is not told
    stream.emit('data', {
      created: true,
      canceled: true,
      cancel_reason: 'etcdserver: invalid auth token',
      watch_id: '0',
      events: [],
    });
    expect(reasons).toEqual(['etcdserver: invalid auth token']);
    expect(errors).toEqual([]);

    // connected: a rebuild disconnects every watcher (which stays attached) and cancels the stream
    const reason = new Error('rebuild');
    expect(rebuildWatchStream(kv, reason)).toBe(true);
    expect(stream.cancelled).toBe(true);
    expect(disconnects).toEqual([reason]);

    // forwarded cancels reach the watcher as errors (etcd3's own handling)
    const second = new FakeWatchStream();
    (
      kv as unknown as { watchManager: { client: { watch(): Promise<unknown> } } }
    ).watchManager.client.watch = () => Promise.resolve(second);
    // after etcd3's reconnect backoff, the watcher is re-created on the new stream
    await waitFor(() => second.written.length === 1, {
      timeout: 5_000,
      message: 'create request on the rebuilt stream',
    });
    verdict = 'forward';
    second.emit('data', {
      created: true,
      canceled: true,
      cancel_reason: 'etcdserver: mvcc: required revision has been compacted',
      watch_id: '0',
      events: [],
    });
    expect(errors).toHaveLength(1);

    forgetWatchers(kv);
    expect(
      (kv as unknown as { watchManager: { watchers: unknown[] } }).watchManager.watchers,
    ).toEqual([]);
  });
});

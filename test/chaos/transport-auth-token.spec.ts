import 'reflect-metadata';
import { EtcdConfigService, EtcdRegistryService, type RegistryStatus } from '../../lib/index.js';
import { nextValue, expectDuration } from '../support/index.js';
import { FAST_TIMINGS, bootApp, useChaosSuite } from '../support/chaos-helpers.js';

/**
 * etcd's simple auth tokens expire (`--auth-token-ttl`). An app that idled past
 * the TTL and then opens a new watch (first discovery of a service) must re-authenticate and see
 * changes at once, not after the stall timeout rebuilds the stream.
 */

const ROOT_PASSWORD = 'r00t-Token-Ttl-4b2c';
const TOKEN_TTL_S = 2;

describe('chaos: auth token expiry', () => {
  const suite = useChaosSuite({
    etcd: { auth: { rootPassword: ROOT_PASSWORD }, extraArgs: [`--auth-token-ttl=${TOKEN_TTL_S}`] },
  });
  const { apps } = suite;

  it('a new watch after idling past the token TTL sees changes within 3 s', async () => {
    const app = await bootApp({
      hosts: suite.etcd.endpoint,
      auth: { username: 'root', password: ROOT_PASSWORD },
      ...FAST_TIMINGS,
      // the stall timeout would eventually rebuild the stream: keep it far above the bound asserted
      watchStallTimeout: 60_000,
    });
    apps.push(app);
    const registry = app.get(EtcdRegistryService);

    for (let round = 1; round <= 2; round++) {
      // Idle past the token's TTL: time has to pass, there is no event to wait for.
      await new Promise(resolve => setTimeout(resolve, (TOKEN_TTL_S + 1.5) * 1000));
      const service = `tokens-${round}`;
      // The first call for a service opens a new watch on the idle stream.
      expect(await registry.getInstances(service)).toEqual([]);
      const started = Date.now();
      await suite.etcd.put(
        `/services/${service}/a`,
        JSON.stringify({ host: '10.0.0.1', port: 80 }),
      );
      const seen = await nextValue(
        registry.instances$(service),
        list => list.length === 1,
        3_000,
        `instance of ${service} after idling ${TOKEN_TTL_S + 1.5} s`,
      );
      expect(seen[0]).toMatchObject({ instanceId: 'a', host: '10.0.0.1', port: 80 });
      const delay = Date.now() - started;
      console.log(`auth token expiry: round ${round}, change seen ${delay} ms after the put`);
      // seen 0.1-0.5 s on a quiet machine; a loaded laptop gets 10x
      expectDuration(
        delay,
        5_000,
        `a change delivered after the auth token expired (round ${round})`,
      );
    }
  }, 60_000);

  it('heartbeats, writes and the config watch keep working across several token lifetimes', async () => {
    const app = await bootApp({
      hosts: suite.etcd.endpoint,
      auth: { username: 'root', password: ROOT_PASSWORD },
      ...FAST_TIMINGS,
      watchStallTimeout: 60_000,
      registry: {
        serviceName: 'token-idle',
        instanceId: 'i1',
        host: '127.0.0.1',
        port: 8080,
        ttl: 2,
      },
    });
    apps.push(app);
    const registry = app.get(EtcdRegistryService);
    const config = app.get(EtcdConfigService);
    await app.get(EtcdRegistryService).register();
    const statuses: RegistryStatus[] = [];
    const subscription = registry.status$.subscribe(status => statuses.push(status));
    try {
      for (let round = 1; round <= 2; round++) {
        await new Promise(resolve => setTimeout(resolve, (TOKEN_TTL_S + 1.5) * 1000));
        // an outside write reaches the existing config watch
        await suite.etcd.put('/config/idle', `outside-${round}`);
        await nextValue(
          config.watch('idle'),
          v => v === `outside-${round}`,
          3_000,
          `outside-${round}`,
        );
        // the app's own write (a unary call with the expired token) succeeds
        await config.set('own', `own-${round}`);
        expect(await suite.etcd.get('/config/own')).toBe(`own-${round}`);
      }
      expect(await suite.etcd.get('/services/token-idle/i1')).toContain('"port":8080');
      expect(statuses.filter(status => status !== 'registered')).toEqual([]);
    } finally {
      subscription.unsubscribe();
    }
  }, 60_000);
});

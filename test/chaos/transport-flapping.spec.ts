import 'reflect-metadata';
import { EtcdRegistryService, type EtcdModuleOptions } from '../../lib/index.js';
import { TcpProxy, expectDuration, waitFor } from '../support/index.js';
import { bootApp, profile, useChaosSuite } from '../support/chaos-helpers.js';

/**
 * A flapping link (up 1 s, down 0.3 s) must not keep the registration away.
 * An observer with its own direct connection to etcd watches the instance key; the time the key is
 * missing while the app's link flaps must stay under 2 % (it was 13-17 % when etcd3's per-host
 * breaker rejected heartbeats for longer than the TTL).
 */

const UP_MS = 1_000;
const DOWN_MS = 300;
const FLAP_FOR_MS = profile(24_000, 120_000);
const TTL_S = 5;
const KEY = '/services/flap/f1';

describe('chaos: flapping link', () => {
  const suite = useChaosSuite();
  const { apps } = suite;
  let proxy: TcpProxy;

  beforeAll(async () => {
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: suite.etcd.clientPort });
    suite.closables.push(proxy);
  });

  it(`the registration key is missing < 2 % of the time (link up ${UP_MS} ms / down ${DOWN_MS} ms, ttl ${TTL_S}s)`, async () => {
    const options: EtcdModuleOptions = {
      hosts: proxy.endpoint,
      config: false,
      registry: {
        serviceName: 'flap',
        instanceId: 'f1',
        host: '127.0.0.1',
        port: 8080,
        ttl: TTL_S,
      },
    };
    const app = await bootApp(options);
    apps.push(app);
    await app.get(EtcdRegistryService).register();

    // The observer's view of the key, from its own watch (not through the flapping link).
    let present = (await suite.raw.get(KEY).string()) !== null;
    let missingSince: number | undefined = present ? undefined : Date.now();
    let missingMs = 0;
    let losses = 0;
    const watcher = await suite.raw.watch().key(KEY).create();
    watcher.on('put', () => {
      if (!present && missingSince !== undefined) missingMs += Date.now() - missingSince;
      present = true;
      missingSince = undefined;
    });
    watcher.on('delete', () => {
      if (present) losses++;
      present = false;
      missingSince = Date.now();
    });

    const started = Date.now();
    try {
      while (Date.now() - started < FLAP_FOR_MS) {
        await new Promise(resolve => setTimeout(resolve, UP_MS));
        proxy.blackhole();
        await new Promise(resolve => setTimeout(resolve, DOWN_MS));
        proxy.heal();
      }
    } finally {
      proxy.heal();
    }
    const window = Date.now() - started;
    if (!present && missingSince !== undefined) missingMs += Date.now() - missingSince;
    const share = missingMs / window;
    console.log(
      `flapping link: key missing ${missingMs} ms of ${window} ms (${(share * 100).toFixed(2)} %), ` +
        `${losses} loss(es)`,
    );
    // and it is (back) in place once the link is stable
    await waitFor(() => present, {
      timeout: (TTL_S + 5) * 1000,
      message: 'key back after the flapping',
    });
    await watcher.cancel();
    // The bound is the point (the registration survives a flapping link), so it is not stretched:
    // a lost lease would leave the key missing for about a TTL, far above 2 % of the window.
    expectDuration(
      missingMs,
      Math.round(window * 0.02),
      `key missing during ${window} ms of flapping (${losses} loss(es); bound: 2 % of the window)`,
    );
  }, 240_000);
});

import 'reflect-metadata';
import { Etcd3 } from 'etcd3';
import { EtcdConfigService, EtcdRegistryService } from '../../lib/index.js';
import { waitFor } from '../support/index.js';
import { EtcdConnection } from '../support/internals.js';
import { FAST_TIMINGS, bootApp, pause, useChaosSuite } from '../support/chaos-helpers.js';

/**
 * `autoSyncEndpoints`: every member of a 3-member cluster is replaced, one at a time,
 * the way an operator does it (`etcdctl member add`, start the new member, `etcdctl member remove`
 * the old one). Once none of the app's configured URLs is a member, the app still registers and
 * writes config, because its client followed the member list; the log says why its hosts changed.
 */
describe('chaos: every etcd member replaced (autoSyncEndpoints)', () => {
  const suite = useChaosSuite({ clusterSize: 3 });

  it('registration and config writes still work after the last configured member is gone; one line says so', async () => {
    const configured = [...suite.cluster.hosts];
    const app = await bootApp({
      hosts: configured,
      ...FAST_TIMINGS,
      // 1 s instead of 30 s, so the spec stays short; the rule is the same.
      autoSyncEndpoints: { interval: 1_000 },
      registry: {
        serviceName: 'replaced',
        instanceId: 'replaced-1',
        host: '127.0.0.1',
        port: 7301,
        ttl: 5,
      },
    });
    suite.apps.push(app);
    const registry = app.get(EtcdRegistryService);
    const config = app.get(EtcdConfigService);
    await waitFor(() => registry.status === 'registered', {
      timeout: 20_000,
      message: 'the app to register before any member is replaced',
    });

    for (const old of [...suite.cluster.members]) {
      await suite.cluster.replaceMember(old);
    }
    const members = suite.cluster.members.map(m => m.endpoint);
    expect(members.some(host => configured.includes(host))).toBe(false);

    // A client that only knows the new members reads what the app writes from now on.
    const fresh = new Etcd3({ hosts: members });
    suite.closables.push(fresh);
    await waitFor(
      () =>
        suite.logs.matching('warn', /no longer members of the cluster; following its member list/)
          .length > 0,
      {
        timeout: 30_000,
        message: 'the warning that the configured hosts are no longer members',
      },
    );
    const line = suite.logs.matching('warn', /no longer members of the cluster/)[0]!;
    expect(line.message).toContain(`configured: ${configured.join(', ')}`);
    // Retries and breakers are sized from the members the client follows, not the configured hosts.
    const connection = app.get(EtcdConnection);
    await waitFor(() => [...connection.hosts].sort().join() === [...members].sort().join(), {
      timeout: 30_000,
      message: `the transport policy to use the members ${members.join(', ')}`,
    });

    // Config writes reach the new members.
    await config.set('after-replacement', 'written');
    await waitFor(
      async () => (await fresh.get('/config/after-replacement').string()) === 'written',
      { timeout: 10_000, message: 'the config write to be visible on the new members' },
    );

    // The registration lives on the new members, and its lease is kept alive past its TTL.
    const key = '/services/replaced/replaced-1';
    await waitFor(async () => (await fresh.get(key).string()) !== null, {
      timeout: 20_000,
      message: 'the registration to be on the new members',
    });
    const lease = await fresh.get(key).exec();
    const leaseId = lease.kvs[0]!.lease;
    await pause(6_000); // time passes: longer than the 5 s TTL
    const later = await fresh.get(key).exec();
    expect(later.kvs[0]?.lease).toBe(leaseId);
    expect(registry.status).toBe('registered');
    await expect(registry.getInstances('replaced')).resolves.toEqual([
      expect.objectContaining({ instanceId: 'replaced-1' }),
    ]);
  }, 180_000);
});

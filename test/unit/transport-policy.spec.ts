import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { isBrokenCircuitError } from 'cockatiel';
import { Etcd3, GRPCUnavailableError } from 'etcd3';
import { EndpointSync } from '../../lib/client/endpoint-sync.js';
import { TransportPolicy } from '../../lib/client/transport-policy.js';
import { resolveEtcdOptions } from '../../lib/options/etcd-options.resolver.js';
import { FakeClock } from '../support/fake-clock.js';

type HostPolicy = ReturnType<NonNullable<ReturnType<TransportPolicy['faultHandling']>['host']>>;

const a = 'http://10.0.0.1:2379';
const b = 'http://10.0.0.2:2379';
const c = 'http://10.0.0.3:2379';

/** A call that fails on the transport (what etcd3 marks recoverable and our policy counts). */
function failingCall(): { calls: () => number; fn: () => Promise<never> } {
  let calls = 0;
  return {
    calls: () => calls,
    fn: () => {
      calls++;
      return Promise.reject(new GRPCUnavailableError('14 UNAVAILABLE: read ECONNRESET'));
    },
  };
}

/** How many calls `policy` lets through before it rejects without calling (an open breaker). */
async function callsUntilBreakerOpens(host: HostPolicy, tries: number): Promise<number> {
  const call = failingCall();
  for (let i = 0; i < tries; i++) {
    const err = await host.execute(call.fn).catch((e: unknown) => e);
    if (isBrokenCircuitError(err)) break;
  }
  return call.calls();
}

/**
 * The transport policy (retries per call, per-host breakers) is sized from the hosts
 * the client uses, which autoSyncEndpoints may switch; the switch itself against real etcd is in
 * test/chaos/cluster-members-replaced.spec.ts.
 */
describe('TransportPolicy follows the hosts the client uses', () => {
  it('one configured host: one attempt and no breaker; three hosts after a sync: three attempts and a breaker', async () => {
    const policy = new TransportPolicy(resolveEtcdOptions({ hosts: a }, {}));
    const handling = policy.faultHandling();
    // a host the client keeps through the switch: its policy follows too
    const kept = handling.host!(a);
    expect(policy.attempts).toBe(1);

    const once = failingCall();
    await expect(handling.global!.execute(once.fn)).rejects.toBeInstanceOf(GRPCUnavailableError);
    expect(once.calls()).toBe(1);
    // a single host has nowhere else to go: five failures in a row are all let through
    expect(await callsUntilBreakerOpens(kept, 5)).toBe(5);

    policy.useHosts([a, b, c]);
    expect(policy.hosts).toEqual([a, b, c]);
    expect(policy.attempts).toBe(3);
    const thrice = failingCall();
    await expect(handling.global!.execute(thrice.fn)).rejects.toBeInstanceOf(GRPCUnavailableError);
    expect(thrice.calls()).toBe(3);
    // with three hosts, three failures in a row open the host's breaker (kept and new hosts)
    expect(await callsUntilBreakerOpens(kept, 5)).toBe(3);
    expect(await callsUntilBreakerOpens(handling.host!(b), 5)).toBe(3);

    // an empty list (nothing read) changes nothing
    policy.useHosts([]);
    expect(policy.attempts).toBe(3);
  });

  it('three configured hosts that became one member: one attempt, no breaker', async () => {
    const policy = new TransportPolicy(resolveEtcdOptions({ hosts: [a, b, c] }, {}));
    const handling = policy.faultHandling();
    expect(await callsUntilBreakerOpens(handling.host!(a), 5)).toBe(3);
    policy.useHosts([c]);
    const once = failingCall();
    await expect(handling.global!.execute(once.fn)).rejects.toBeInstanceOf(GRPCUnavailableError);
    expect(once.calls()).toBe(1);
    expect(await callsUntilBreakerOpens(handling.host!(c), 5)).toBe(5);
  });

  it('EndpointSync tells its listeners the hosts it switched the client to (the member list stubbed)', async () => {
    const logger = new Logger('EtcdClient');
    jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const client = new Etcd3({ hosts: [a] });
    let members = [a];
    (client.cluster as unknown as { memberList: () => Promise<unknown> }).memberList = () =>
      Promise.resolve({ members: members.map(url => ({ clientURLs: [url] })) });
    const policy = new TransportPolicy(resolveEtcdOptions({ hosts: a }, {}));
    const sync = new EndpointSync(client, [a], 30_000, logger, () => 0, new FakeClock());
    sync.onSwitch(hosts => policy.useHosts(hosts));
    try {
      await sync.syncOnce();
      expect(policy.hosts).toEqual([a]);
      members = [b, c];
      await sync.syncOnce();
      expect(sync.hosts).toEqual([b, c]);
      expect(policy.hosts).toEqual([b, c]);
      expect(policy.attempts).toBe(2);
    } finally {
      sync.stop();
      client.close();
    }
  });
});

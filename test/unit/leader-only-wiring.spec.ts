import 'reflect-metadata';
import { jest } from '@jest/globals';
import { Injectable, Logger, Scope } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, MetadataScanner } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import type { EtcdConnection } from '../../lib/client/etcd-connection.js';
import { scanDecoratedMethods } from '../../lib/common/provider-scanner.js';
import { EtcdElectionService } from '../../lib/election/etcd-election.service.js';
import { LeaderOnly, leaderOnlyName } from '../../lib/election/leader-only.decorator.js';
import { resolveEtcdOptions } from '../../lib/options/etcd-options.resolver.js';
import type { InformerPool } from '../../lib/watch/informer-pool.js';

/**
 * `@LeaderOnly` never fails silently: on a request-scoped provider the module warns at init, and a
 * method called where no EtcdModule wired it warns once. No etcd: nothing here campaigns.
 */

@Injectable()
class SingletonJob {
  runs = 0;
  @LeaderOnly('jobs')
  run(): void {
    this.runs++;
  }
}

@Injectable({ scope: Scope.REQUEST })
class PerRequestJob {
  @LeaderOnly('jobs')
  run(): string {
    return 'ran';
  }
}

describe('@LeaderOnly wiring', () => {
  let moduleRef: TestingModule;
  let warn: jest.SpiedFunction<Logger['warn']>;

  beforeEach(async () => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    moduleRef = await Test.createTestingModule({
      imports: [DiscoveryModule],
      providers: [SingletonJob, PerRequestJob],
    }).compile();
  });
  afterEach(async () => {
    await moduleRef.close();
    jest.restoreAllMocks();
  });

  it('the scanner finds singleton methods and names the request-scoped ones apart', () => {
    const found = scanDecoratedMethods(
      moduleRef.get(DiscoveryService),
      moduleRef.get(MetadataScanner),
      leaderOnlyName,
    );
    expect(found.methods.map(m => [m.label, m.metadata])).toEqual([['SingletonJob.run', 'jobs']]);
    expect(found.methods[0]?.instance).toBe(moduleRef.get(SingletonJob));
    expect(found.notSingleton).toEqual(['PerRequestJob.run']);
  });

  it('EtcdElectionService warns at init about @LeaderOnly on a request-scoped provider', () => {
    const election = new EtcdElectionService(
      {} as EtcdConnection,
      {} as InformerPool,
      resolveEtcdOptions({}, {}),
      moduleRef.get(DiscoveryService),
      moduleRef.get(MetadataScanner),
    );
    election.onModuleInit();
    const lines = warn.mock.calls.map(call => String(call[0]));
    expect(lines).toEqual([
      'PerRequestJob.run is @LeaderOnly on a request-scoped or transient provider: it never runs (use a singleton provider)',
    ]);
  });

  it('a @LeaderOnly method called without the module warns once and does not run', () => {
    const job = new SingletonJob();
    expect(job.run()).toBeUndefined();
    job.run();
    expect(job.runs).toBe(0);
    const lines = warn.mock.calls.map(call => String(call[0]));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^SingletonJob\.run is @LeaderOnly but no EtcdModule set up its election/,
    );
  });
});

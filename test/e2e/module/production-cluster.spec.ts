import 'reflect-metadata';
import { type DynamicModule } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { readFile } from 'node:fs/promises';
import { EtcdConnectionError, EtcdModule } from '../../../lib/index.js';
import { disposeTlsMaterial, generateRogueCa, type RogueCa } from '../../support/index.js';
import { TlsClusterScript } from '../../support/tls-cluster-script.js';

async function bootError(module: DynamicModule): Promise<Error> {
  const compiled = Test.createTestingModule({ imports: [module] }).compile();
  return compiled.then(
    async moduleRef => {
      await moduleRef.close();
      throw new Error('expected the boot to fail');
    },
    (err: Error) => err,
  );
}

// docs/production.md: the 3-member TLS + auth cluster of scripts/etcd-tls-cluster.sh.
describe('production: a 3-member TLS cluster with auth (scripts/etcd-tls-cluster.sh)', () => {
  let cluster: TlsClusterScript;
  let rogue: RogueCa;

  beforeAll(async () => {
    [cluster, rogue] = await Promise.all([TlsClusterScript.start(), generateRogueCa()]);
  }, 90_000);
  afterAll(async () => {
    await cluster?.clean();
    if (rogue) await disposeTlsMaterial(rogue);
  });

  describe('TLS errors with three hosts (issue 26.7)', () => {
    it('names the certificate problem when the CA is missing', async () => {
      const err = await bootError(
        EtcdModule.forRoot({ hosts: cluster.hosts, connectTimeout: 3000, config: false }),
      );
      expect(err).toBeInstanceOf(EtcdConnectionError);
      expect(err.message).not.toMatch(/Last error: null/i);
      expect(err.message).toMatch(/certificate/i);
    });

    it('names the certificate problem when the CA is the wrong one', async () => {
      const err = await bootError(
        EtcdModule.forRoot({
          hosts: cluster.hosts,
          connectTimeout: 3000,
          config: false,
          credentials: {
            rootCertificate: rogue.ca,
            certChain: await readFile(cluster.certFile),
            privateKey: await readFile(cluster.keyFile),
          },
        }),
      );
      expect(err).toBeInstanceOf(EtcdConnectionError);
      expect(err.message).not.toMatch(/Last error: null/i);
      expect(err.message).toMatch(/certificate/i);
    });

    it('hints at https:// when http:// hosts talk to the TLS cluster', async () => {
      const err = await bootError(
        EtcdModule.forRoot({
          hosts: cluster.hosts.map(h => h.replace('https://', 'http://')),
          connectTimeout: 3000,
          config: false,
        }),
      );
      expect(err).toBeInstanceOf(EtcdConnectionError);
      expect(err.message).toMatch(/https:\/\//);
    });
  });
});

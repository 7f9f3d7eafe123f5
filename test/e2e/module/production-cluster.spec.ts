import 'reflect-metadata';
import { type DynamicModule } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EnvBootChild } from '../../fixtures/module/env-boot.launcher.js';
import { REPO_ROOT } from '../../support/build-lib.js';
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
    await cluster.etcdctl(['put', '/config/greeting', 'hello-production']);
  }, 90_000);

  /** The environment docs/production.md gives an app (the script's files), as `user`. */
  function appEnv(username: string, password: string): Record<string, string> {
    return {
      ETCD_CA_FILE: cluster.caFile,
      ETCD_CERT_FILE: cluster.certFile,
      ETCD_KEY_FILE: cluster.keyFile,
      ETCD_USERNAME: username,
      ETCD_PASSWORD: password,
    };
  }

  it('an app configured only by ETCD_* variables boots over TLS with IP hosts, without DEP0123', async () => {
    const report = await EnvBootChild.run(
      cluster.hosts.join(','),
      appEnv('root', cluster.rootPassword),
    );
    expect(report.bootFailed).toBeUndefined();
    expect(report.lines.CONFIG).toBe('"hello-production"');
    expect(report.log).not.toMatch(/DEP0123|ServerName to an IP address/);
  }, 90_000);

  it('credentials in ETCD_HOSTS are used as auth, and a wrong one never shows the password', async () => {
    const secret = encodeURIComponent(cluster.rootPassword);
    const withUser = cluster.hosts.map(h => h.replace('https://', `https://root:${secret}@`));
    const env = { ...appEnv('x', 'y'), ETCD_USERNAME: undefined, ETCD_PASSWORD: undefined };
    const report = await EnvBootChild.run(withUser.join(','), env);
    expect(report.bootFailed).toBeUndefined();
    expect(report.lines.CONFIG).toBe('"hello-production"');

    const wrong = await EnvBootChild.run(withUser.map(h => `${h}/v3`).join(','), env);
    expect(wrong.bootFailed).toMatch(/^InvalidOptionsError: .*ETCD_HOSTS.*root:\*\*\*@/);
    expect(wrong.log).not.toContain(cluster.rootPassword);
  }, 90_000);

  it('a user with exactly the roles of docs/production.md boots, registers, reads config, and cannot write outside', async () => {
    const docs = await readFile(join(REPO_ROOT, 'docs', 'production.md'), 'utf8');
    const lines = docs
      .split('\n')
      .filter(line => /^etcdctl (role|user) /.test(line))
      .map(line => line.split(/\s+/).slice(1));
    expect(lines.length).toBeGreaterThanOrEqual(9);
    for (const args of lines) await cluster.etcdctl(args);
    const user = lines.find(args => args[0] === 'user' && args[1] === 'add')![2]!.split(':');

    const report = await EnvBootChild.run(cluster.hosts.join(','), {
      ...appEnv(user[0]!, user[1]!),
      ENV_BOOT_SERVICE: 'orders',
      ENV_BOOT_WRITES: '/config/greeting,/services/payments/fake,/other/key',
    });
    expect(report.bootFailed).toBeUndefined();
    expect(report.lines).toMatchObject({
      CONFIG: '"hello-production"',
      LOCK: 'ok',
      LEADER: 'true',
    });
    // nothing the module does by itself (status key, registration, lease revokes) was refused
    const refused = report.log
      .split('\n')
      .filter(
        line => !line.startsWith('WRITE ') && /permission denied|EtcdPermissionError/i.test(line),
      );
    expect(refused).toEqual([]);
    expect(report.lines.REGISTERED).toMatch(/^[\w.:-]+$/);
    for (const key of ['/config/greeting', '/services/payments/fake', '/other/key']) {
      expect({ key, outcome: report.lines[`WRITE ${key}`] }).toEqual({
        key,
        outcome: expect.stringMatching(/permission denied/i),
      });
    }
    expect(await cluster.etcdctl(['get', '/config/greeting', '--print-value-only'])).toBe(
      'hello-production\n',
    );
  }, 120_000);
  afterAll(async () => {
    await cluster?.clean();
    if (rogue) await disposeTlsMaterial(rogue);
  });

  describe('TLS errors with three hosts (the certificate problem is named)', () => {
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

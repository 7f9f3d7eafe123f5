import 'reflect-metadata';
import { nextValue } from '../../support/index.js';
import { LogCapture } from '../../support/log-capture.js';
import { instanceJson, startEchoServer } from '../../support/loopback-servers.js';
import { registryOf, startApp } from '../../support/registry-test-app.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';

// A registry value whose host nobody can call (written by etcdctl, as a hostile or
// careless script would) is skipped with one warning per key and never handed out.
describe('registry: instances nobody can call (real etcd, etcdctl writer)', () => {
  const suite = useEtcdSuite();
  const logs = new LogCapture();
  beforeEach(() => logs.install());
  afterEach(() => logs.uninstall());

  it('skips poisoned hosts with one warning per key: 60 fetches reach only the good instances', async () => {
    const good = await Promise.all(['good-a', 'good-b'].map(id => startEchoServer({ id })));
    suite.closables.push(...good);
    for (const [i, server] of good.entries()) {
      await suite.etcd.put(`/services/pois/good-${'ab'[i]}`, instanceJson(server.port));
    }
    const port = good[0]!.port;
    const poisoned: Record<string, string> = {
      'with-port': `127.0.0.1:${port}`,
      'with-user': 'u@127.0.0.1',
      'with-query': '127.0.0.1?q',
      'with-path': '127.0.0.1/x',
      'not-ipv4': '999.1.1.1',
    };
    for (const [id, host] of Object.entries(poisoned)) {
      await suite.etcd.put(`/services/pois/${id}`, JSON.stringify({ host, port }));
    }
    await suite.etcd.put('/services/pois/bad-port', JSON.stringify({ host: '127.0.0.1', port: 0 }));

    const registry = registryOf(
      await startApp({ hosts: suite.etcd.endpoint }).then(app => {
        suite.apps.push(app);
        return app;
      }),
    );
    const listed = await registry.getInstances('pois');
    expect(listed.map(i => i.instanceId).sort()).toEqual(['good-a', 'good-b']);

    // the same bad value written again (a new revision) does not warn again
    await suite.etcd.put('/services/pois/with-port', JSON.stringify({ host: `h:${port}`, port }));
    await suite.etcd.put('/services/pois/zz-marker', instanceJson(port));
    await nextValue(
      registry.instances$('pois'),
      l => l.some(i => i.instanceId === 'zz-marker'),
      10_000,
    );
    await suite.etcd.del('/services/pois/zz-marker');
    await nextValue(registry.instances$('pois'), l => l.length === 2, 10_000);

    const answeredBy: Record<string, number> = {};
    for (let i = 0; i < 60; i++) {
      const res = await registry.fetch('pois', `/call/${i}`);
      const { id } = (await res.json()) as { id: string };
      answeredBy[id] = (answeredBy[id] ?? 0) + 1;
    }
    expect(answeredBy).toEqual({ 'good-a': 30, 'good-b': 30 });

    for (const id of [...Object.keys(poisoned), 'bad-port']) {
      const lines = logs.warnings(`/services/pois/${id}`);
      expect({ id, lines: lines.length }).toEqual({ id, lines: 1 });
    }
    expect(logs.warnings('/services/pois/with-user')[0]).toMatch(
      /"host" must be a DNS name, an IPv4 address or an IPv6 address .*"u@127\.0\.0\.1"/,
    );
    expect(logs.warnings('/services/pois/bad-port')[0]).toMatch(
      /"port" must be an integer from 1 to 65535/,
    );
  });
});

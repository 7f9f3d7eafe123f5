import { EtcdConfigService, EtcdModule } from '../../../lib/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { waitFor } from '../../support/jest-helpers.js';
import { TEST_RETRY } from '../../support/nest-apps.js';

/**
 * Nothing is lost: a key nobody reads keeps at most three raw revisions, so rejected
 * revisions in a row of it dropped its last good value. The newest valid revision is then taken
 * from etcd's history, as the boot path does; compacted away, the key stays unset with one clear
 * line.
 */

const PREFIX = '/unread/';
const KEY = 'limits.json';
const GOOD = '{"rate":10}';

describe('rejected revisions of a key nobody read (nothing is lost)', () => {
  const suite = useConfigSuite({ clearPrefix: PREFIX, captureLogs: true });

  async function boot(): Promise<EtcdConfigService> {
    const app = suite.apps.track(
      await bootApp({
        imports: [
          EtcdModule.forRoot({
            hosts: suite.etcd.endpoint,
            retry: TEST_RETRY,
            config: { prefix: PREFIX },
          }),
        ],
      }),
    );
    return app.get(EtcdConfigService);
  }

  /** Puts the good value, then `bad` invalid documents; the revisions of the good one and the last. */
  async function goodThenBad(config: EtcdConfigService, bad: number) {
    await suite.etcd.put(`${PREFIX}${KEY}`, GOOD);
    const good = await suite.etcd.modRevision(`${PREFIX}${KEY}`);
    for (let i = 0; i < bad; i++) await suite.etcd.put(`${PREFIX}${KEY}`, `{"rate": broken ${i}`);
    const last = await suite.etcd.modRevision(`${PREFIX}${KEY}`);
    await waitFor(() => config.currentRevision >= last, {
      message: 'the app to receive every revision',
    });
    return { good, last };
  }

  it('good, then 4 bad revisions unread: get() serves the good value, the status says rejected with the newest rejected revision', async () => {
    const config = await boot();
    const { good, last } = await goodThenBad(config, 4);
    expect(suite.logs.warnings(`"${KEY}"`)).toEqual([]); // nothing decoded on arrival

    const served = await waitFor(() => config.get<{ rate: number }>(KEY), {
      message: 'the last good value to be served again (it was lost before the fix)',
    });
    expect(served).toEqual({ rate: 10 });
    expect(config.keyStatuses()[KEY]).toMatchObject({
      revision: good,
      state: 'rejected',
      rejectedRevision: last,
    });
    expect(suite.logs.warnings(`"${KEY}"`).at(-1)).toMatch(
      new RegExp(
        `revision ${last} rejected: invalid JSON document.*keeping the value of revision ${good}, the newest valid one in etcd's history$`,
      ),
    );

    // A valid put later is applied as usual.
    await suite.etcd.put(`${PREFIX}${KEY}`, '{"rate":20}');
    await waitFor(() => config.get<{ rate: number }>(KEY)?.rate === 20, {
      message: 'a valid put after the rejections to be served',
    });
    expect(config.keyStatuses()[KEY]).toMatchObject({ state: 'applied' });
  });

  it('the good revision compacted away: the key stays unset with one clear line, nothing crashes', async () => {
    const config = await boot();
    const { last } = await goodThenBad(config, 4);
    await suite.etcd.compact(last);

    expect(config.get(KEY)).toBeUndefined(); // the first read: looked up in etcd's history
    await waitFor(() => suite.logs.warnings(`revision ${last} rejected`).length > 0, {
      message: 'the rejection of the newest revision to be logged',
    });
    expect(config.get(KEY)).toBeUndefined();
    expect(suite.logs.warnings(`revision ${last} rejected`)).toEqual([
      expect.stringMatching(
        /rejected: invalid JSON document.*the key stays unset, no valid revision of it in etcd's history \(from revision \d+; older ones compacted\)$/,
      ),
    ]);
    // The app still serves the rest of its config.
    await suite.etcd.put(`${PREFIX}other`, 'fine');
    await waitFor(() => config.get('other') === 'fine', { message: 'a later put to be served' });
  });
});

import 'reflect-metadata';
import { type DynamicModule, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  EtcdAuthError,
  EtcdConfigService,
  EtcdConnectionError,
  EtcdModule,
  type EtcdModuleOptions,
} from '../../../lib/index.js';
import { EtcdServer, freePort, expectDuration } from '../../support/index.js';
import { trackOpenHandles } from '../../fixtures/module/open-handles.js';

/** Compiles and inits an app; returns it, or the error boot failed with. */
async function tryBoot(
  module: DynamicModule,
): Promise<{ app?: INestApplication; error?: unknown; elapsed: number }> {
  const started = Date.now();
  try {
    const moduleRef = await Test.createTestingModule({ imports: [module] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    return { app, elapsed: Date.now() - started };
  } catch (error) {
    return { error, elapsed: Date.now() - started };
  }
}

/** Runs `fn` with some environment variables set, restoring them afterwards. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map(name => [name, process.env[name]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

describe('unreachable etcd', () => {
  it('fails boot with EtcdConnectionError within connectTimeout (+ 3 s slack), naming host and cause', async () => {
    const port = await freePort(); // nothing listens there
    const handles = trackOpenHandles();
    const connectTimeout = 1500;
    const { app, error, elapsed } = await tryBoot(
      EtcdModule.forRoot({ hosts: `http://127.0.0.1:${port}`, connectTimeout }),
    );
    await app?.close();
    expect(error).toBeInstanceOf(EtcdConnectionError);
    // Bounded by connectTimeout, not by the 5 s default: the slack covers Nest's boot on a busy
    // 2-core CI machine (3.1 s was seen there with a 1 s slack; 3.5 s gives it room).
    expectDuration(elapsed, connectTimeout + 3500, 'a failed boot with connectTimeout 1500 ms');
    const { message } = error as EtcdConnectionError;
    expect(message).toContain(`http://127.0.0.1:${port}`);
    expect(message).toContain(`${connectTimeout} ms`);
    // the cause: what the client saw (refused / no connection / no answer in time), not just
    // "failed"; on a starved machine the only attempt may end on its deadline before a refusal
    expect(message).toMatch(/ECONNREFUSED|connection|no answer|unavailable|deadline exceeded/i);
    expect((error as EtcdConnectionError).cause).toBeDefined();
    await handles.settled();
  });

  it('names every host that was tried', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const hosts = [`http://127.0.0.1:${a}`, `http://127.0.0.1:${b}`];
    const handles = trackOpenHandles();
    const { app, error } = await tryBoot(EtcdModule.forRoot({ hosts, connectTimeout: 1000 }));
    await app?.close();
    expect(error).toBeInstanceOf(EtcdConnectionError);
    expect((error as EtcdConnectionError).hosts).toEqual(hosts);
    for (const host of hosts) expect((error as Error).message).toContain(host);
    await handles.settled();
  });
});

describe('etcd with auth', () => {
  const rootPassword = 'r00t-Secret-42';
  const wrongPassword = 'not-the-Password-77';
  let etcd: EtcdServer;

  beforeAll(async () => {
    etcd = await EtcdServer.start({ auth: { rootPassword } });
    await etcd.put('/config/greeting', 'hello-auth');
  });
  afterAll(async () => {
    await etcd?.dispose();
  });

  async function expectAuthError(options: EtcdModuleOptions, username: string, secret: string) {
    const handles = trackOpenHandles();
    const { app, error } = await tryBoot(
      EtcdModule.forRoot({ hosts: etcd.endpoint, connectTimeout: 3000, ...options }),
    );
    await app?.close();
    expect(error).toBeInstanceOf(EtcdAuthError);
    const authError = error as EtcdAuthError;
    expect(authError.username).toBe(username);
    expect(authError.message).toContain(`"${username}"`);
    expect(authError.message).toContain(etcd.endpoint);
    expect(authError.message).not.toContain(secret);
    expect(JSON.stringify(authError)).not.toContain(secret);
    expect(String(authError.stack)).not.toContain(secret);
    await handles.settled();
  }

  it('refuses a wrong password with EtcdAuthError naming the user, never the password', async () => {
    await expectAuthError(
      { auth: { username: 'root', password: wrongPassword } },
      'root',
      wrongPassword,
    );
  });

  it('refuses an unknown user with EtcdAuthError naming that user', async () => {
    await expectAuthError(
      { auth: { username: 'nobody', password: wrongPassword } },
      'nobody',
      wrongPassword,
    );
  });

  it('boots with the right credentials and reads and writes config', async () => {
    const { app, error } = await tryBoot(
      EtcdModule.forRoot({
        hosts: etcd.endpoint,
        auth: { username: 'root', password: rootPassword },
      }),
    );
    try {
      expect(error).toBeUndefined();
      const config = app!.get(EtcdConfigService);
      expect(config.get('greeting')).toBe('hello-auth');
      await config.set('written-with-auth', { ok: true });
      expect(await etcd.get('/config/written-with-auth')).toBe('{"ok":true}');
    } finally {
      await app?.close();
    }
  });

  it('takes hosts and credentials from ETCD_HOSTS, ETCD_USERNAME and ETCD_PASSWORD', async () => {
    const { app, error } = await withEnv(
      { ETCD_HOSTS: etcd.endpoint, ETCD_USERNAME: 'root', ETCD_PASSWORD: rootPassword },
      () => tryBoot(EtcdModule.forRoot()),
    );
    try {
      expect(error).toBeUndefined();
      expect(app!.get(EtcdConfigService).get('greeting')).toBe('hello-auth');
    } finally {
      await app?.close();
    }
  });

  it('reports a wrong ETCD_PASSWORD as EtcdAuthError for ETCD_USERNAME', async () => {
    const { app, error } = await withEnv(
      { ETCD_HOSTS: etcd.endpoint, ETCD_USERNAME: 'root', ETCD_PASSWORD: wrongPassword },
      () => tryBoot(EtcdModule.forRoot({ connectTimeout: 3000 })),
    );
    await app?.close();
    expect(error).toBeInstanceOf(EtcdAuthError);
    expect((error as Error).message).toContain('"root"');
    expect((error as Error).message).not.toContain(wrongPassword);
  });

  it('without credentials, boot fails at once with EtcdAuthError saying auth is required', async () => {
    const handles = trackOpenHandles();
    const connectTimeout = 20_000;
    const { app, error, elapsed } = await tryBoot(
      EtcdModule.forRoot({ hosts: etcd.endpoint, connectTimeout }),
    );
    await app?.close();
    expect(error).toBeInstanceOf(EtcdAuthError);
    expect((error as EtcdAuthError).username).toBeUndefined();
    expect((error as Error).message).toMatch(/requires authentication.*ETCD_USERNAME/);
    // not a timeout: etcd answered, it refused
    expectDuration(
      elapsed,
      connectTimeout,
      'boot refused by an etcd with auth (an answer, not a timeout)',
    );
    await handles.settled();
  });
});

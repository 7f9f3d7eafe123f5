import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './process-utils.js';

/** Certificates and keys for a TLS etcd server and a client, signed by one throwaway CA. */
export interface TlsMaterial {
  /** Temp directory holding every file below. */
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  ca: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
}

/** A CA unrelated to any {@link TlsMaterial}, plus a client cert it signed, for "unknown CA" tests. */
export interface RogueCa {
  dir: string;
  caFile: string;
  caKeyFile: string;
  ca: Buffer;
  /** Client certificate signed by the rogue CA (refused by a server trusting the real CA). */
  clientCertFile: string;
  clientKeyFile: string;
  clientCert: Buffer;
  clientKey: Buffer;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const res = await runCommand('openssl', args, { cwd, timeoutMs: 30_000 });
  if (res.code !== 0) {
    throw new Error(`openssl ${args.join(' ')} failed (${res.code}): ${res.stderr.trim()}`);
  }
}

function reqConfig(cn: string): string {
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    `CN = ${cn}`,
    '[v3_ca]',
    'basicConstraints = critical,CA:TRUE',
    'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
    'subjectKeyIdentifier = hash',
    '',
  ].join('\n');
}

async function createCa(dir: string, name: string, cn: string): Promise<void> {
  await writeFile(join(dir, `${name}.cnf`), reqConfig(cn));
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-sha256',
      '-config',
      `${name}.cnf`,
      '-extensions',
      'v3_ca',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
}

async function createSignedCert(
  dir: string,
  ca: string,
  name: string,
  cn: string,
  extensions: string[],
): Promise<void> {
  await writeFile(join(dir, `${name}.cnf`), reqConfig(cn));
  await writeFile(join(dir, `${name}.ext`), extensions.join('\n') + '\n');
  await openssl(
    [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-config',
      `${name}.cnf`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    ],
    dir,
  );
  const serial = '0x' + Math.floor(Math.random() * 0xffffffff).toString(16);
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-set_serial',
      serial,
      '-days',
      '2',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
}

const CLIENT_EXT = [
  'basicConstraints = CA:FALSE',
  'keyUsage = critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage = clientAuth',
];

/**
 * Generates, with `openssl`, a CA, a server certificate for 127.0.0.1/localhost and a client
 * certificate (CN = `commonName`, default `client`) in a fresh temp directory.
 * Remove the directory with {@link disposeTlsMaterial} when done.
 */
export async function generateTlsMaterial(
  opts: { commonName?: string } = {},
): Promise<TlsMaterial> {
  const dir = await mkdtemp(join(tmpdir(), 'nest-etcd-tls-'));
  try {
    await createCa(dir, 'ca', 'nest-etcd test CA');
    await createSignedCert(dir, 'ca', 'server', 'localhost', [
      'basicConstraints = CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      // etcd's gRPC gateway dials itself with the server cert, so it needs clientAuth as well.
      'extendedKeyUsage = serverAuth,clientAuth',
      'subjectAltName = IP:127.0.0.1,DNS:localhost',
    ]);
    await createSignedCert(dir, 'ca', 'client', opts.commonName ?? 'client', CLIENT_EXT);
    const file = (n: string): string => join(dir, n);
    return {
      dir,
      caFile: file('ca.crt'),
      serverCertFile: file('server.crt'),
      serverKeyFile: file('server.key'),
      clientCertFile: file('client.crt'),
      clientKeyFile: file('client.key'),
      ca: await readFile(file('ca.crt')),
      clientCert: await readFile(file('client.crt')),
      clientKey: await readFile(file('client.key')),
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Generates a CA unrelated to every other one, with a client certificate it signed. */
export async function generateRogueCa(opts: { commonName?: string } = {}): Promise<RogueCa> {
  const dir = await mkdtemp(join(tmpdir(), 'nest-etcd-rogue-ca-'));
  try {
    await createCa(dir, 'rogue-ca', 'rogue CA');
    await createSignedCert(dir, 'rogue-ca', 'client', opts.commonName ?? 'client', CLIENT_EXT);
    const file = (n: string): string => join(dir, n);
    return {
      dir,
      caFile: file('rogue-ca.crt'),
      caKeyFile: file('rogue-ca.key'),
      ca: await readFile(file('rogue-ca.crt')),
      clientCertFile: file('client.crt'),
      clientKeyFile: file('client.key'),
      clientCert: await readFile(file('client.crt')),
      clientKey: await readFile(file('client.key')),
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Removes the temp directory of a {@link TlsMaterial} or {@link RogueCa}. Idempotent. */
export async function disposeTlsMaterial(material: { dir: string } | undefined): Promise<void> {
  if (material) await rm(material.dir, { recursive: true, force: true });
}

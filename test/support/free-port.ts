import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Lowest port handed out by {@link freePort}; below it live well-known and registered services. */
const LOW = 20_000;
/** Used when /proc/sys/net/ipv4/ip_local_port_range cannot be read (Linux default: 32768–60999). */
const DEFAULT_EPHEMERAL_START = 32_768;

/**
 * First port of the kernel's ephemeral range (source ports of outgoing connections). Ports handed
 * out by {@link freePort} stay below it: a client that reconnects to a restarted etcd member may
 * take any ephemeral port as its own source port, so an etcd restarted on an ephemeral port could
 * find it "already in use" for as long as that connection lives.
 */
export function ephemeralRangeStart(): number {
  try {
    const [start] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (start !== undefined && Number.isInteger(start) && start > LOW + 1000) return start;
  } catch {
    // not Linux: use the Linux default
  }
  return DEFAULT_EPHEMERAL_START;
}

/** Ports handed out by this process, so one worker never hands the same port out twice. */
const handedOut = new Set<number>();

/** Resolves true when `port` can be bound on 127.0.0.1 right now (the listener is closed again). */
export function canBind(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/**
 * A free TCP port on 127.0.0.1, picked at random BELOW the kernel's ephemeral range (20000 up to
 * the range start, 32767 by default) and checked by binding it. Such a port is never taken as an
 * outgoing connection's source port, so an etcd member or proxy can be restarted on it. It is free
 * at the moment of the call; another process may still take it before the caller binds, so
 * callers retry with a fresh port on EADDRINUSE (EtcdServer.start and TcpProxy.start do).
 */
export async function freePort(): Promise<number> {
  const high = ephemeralRangeStart() - 1;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW + Math.floor(Math.random() * (high - LOW + 1));
    if (handedOut.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`freePort: no free port in ${LOW}-${high} on 127.0.0.1 after 200 attempts`);
}

/** Returns `count` distinct free ports (see {@link freePort}). */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) ports.push(await freePort());
  return ports;
}

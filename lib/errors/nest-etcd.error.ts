/**
 * The base class of every error this library throws, so an app can tell them apart from everything
 * else with one check.
 *
 * @example
 * ```ts
 * import { NestEtcdError } from 'nest-etcd';
 *
 * try {
 *   await Promise.resolve();
 * } catch (err) {
 *   if (err instanceof NestEtcdError) console.error(`etcd: ${err.message}`);
 * }
 * ```
 */
export abstract class NestEtcdError extends Error {
  /** The class name, e.g. `EtcdConnectionError`. */
  abstract override readonly name: string;
}

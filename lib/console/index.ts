// Entry point of the `nest-etcd/console` subpath: only apps that mount the console load it.
export { EtcdConsoleModule } from './console.module.js';
export type { EtcdConsoleOptions, ConsoleRequest } from './console.interfaces.js';

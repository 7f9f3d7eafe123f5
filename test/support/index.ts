export { canBind, ephemeralRangeStart, freePort, freePorts } from './free-port.js';
export {
  EtcdServer,
  EtcdStartError,
  type EtcdctlOptions,
  type StartEtcdOptions,
} from './etcd-server.js';
export { EtcdCluster, type StartEtcdClusterOptions } from './etcd-cluster.js';
export {
  disposeTlsMaterial,
  generateRogueCa,
  generateTlsMaterial,
  type RogueCa,
  type TlsMaterial,
} from './tls-certs.js';
export { TcpProxy } from './tcp-proxy.js';
export { expectDuration, nextValue, waitFor, within, type WaitForOptions } from './jest-helpers.js';

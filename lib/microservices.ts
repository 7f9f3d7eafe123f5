// Entry point of `nest-etcd/microservices`: needs the optional peer `@nestjs/microservices`, so it
// is kept out of the main entry (an app that does not use it never loads it).
export {
  EtcdClientProxy,
  type EtcdClientProxyOptions,
  type EtcdClientProxyRegistry,
} from './discovery/etcd-client-proxy.js';

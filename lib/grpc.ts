// Entry point of `nest-etcd/grpc`: the grpc-js name resolver for `etcd:///<service>` targets.
export {
  registerEtcdResolver,
  type EtcdResolverOptions,
  type EtcdResolverRegistry,
  type GrpcJsModule,
} from './discovery/etcd-grpc-resolver.js';

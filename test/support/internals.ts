/**
 * The library internals that e2e, chaos and harness specs reach, in one documented place.
 *
 * Specs reach the library through its public entries (`lib/index.js`, `lib/microservices.js`,
 * `lib/grpc.js`, `lib/terminus.js`). A few behaviours have no public handle yet, and the specs
 * that pin them import the internal from here, never from a private file of `lib/`, so the list of
 * what tests depend on stays short and visible. Unit specs in `test/unit/` test one engine file in
 * isolation and import that file directly.
 *
 * | internal                 | why a spec needs it                                                    |
 * | ------------------------ | ---------------------------------------------------------------------- |
 * | `EtcdConnection`         | the provider behind the module: `app.get(EtcdConnection)` checks that   |
 * |                          | the injected client is its client, that it closed on shutdown, how many |
 * |                          | gRPC channels it opened, its resolved options; informer specs build one |
 * |                          | without Nest                                                            |
 * | `ETCD_CLIENT`,           | tokens of the raw etcd3 client and the resolved options, to check what  |
 * | `ETCD_RESOLVED_OPTIONS`  | the module provides under auth                                          |
 * | `resolveEtcdOptions`     | resolves options as the module does, for connections built without Nest |
 * |                          | and for bad-input checks                                                |
 * | `createInformerPool`     | the pool factory the module uses, for informer specs without Nest       |
 * | `InformerPool`,          | the shared informers behind `EtcdWatchService` / config / discovery:    |
 * | `PrefixInformer`,        | informer specs drive them against real etcd (ordering, outages, stall   |
 * | `EtcdInformerPort`       | probe, cluster failover, sharing)                                       |
 * | `ConsoleRuntime`         | the console's state: which `EtcdAdmin` it renders (on the module's      |
 * |                          | connection when the host has `EtcdModule`: one client per app)          |
 * | `YamlWorker`             | the worker that parses large YAML documents: the large-value spec spies |
 * |                          | on it to show the status never has a document handed back to the loop   |
 *
 * @packageDocumentation
 */
export { EtcdConnection } from '../../lib/client/etcd-connection.js';
export { ETCD_CLIENT, ETCD_RESOLVED_OPTIONS } from '../../lib/common/etcd.constants.js';
export { resolveEtcdOptions } from '../../lib/options/etcd-options.resolver.js';
export { createInformerPool } from '../../lib/etcd.providers.js';
export { InformerPool } from '../../lib/watch/informer-pool.js';
export { PrefixInformer } from '../../lib/watch/prefix-informer.js';
export type { InformerResync, InformerState } from '../../lib/watch/informer.interfaces.js';
export { EtcdInformerPort } from '../../lib/watch/etcd-informer-port.js';
export { ConsoleRuntime } from '../../lib/console/console-runtime.js';
export { YamlWorker } from '../../lib/config/yaml-worker.js';

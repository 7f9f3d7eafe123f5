/** Injection token of the console's resolved options. Internal. */
export const CONSOLE_OPTIONS = Symbol('nest-etcd:console-options');

/** Injection token of the `EtcdAdmin` the console renders. Internal. */
export const CONSOLE_ADMIN = Symbol('nest-etcd:console-admin');

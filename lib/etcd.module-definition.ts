import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { EtcdModuleOptions } from './options/etcd-module-options.interface.js';

/**
 * The generated base class of `EtcdModule` (`forRoot` / `forRootAsync`), global by default.
 * @internal
 */
export const {
  ConfigurableModuleClass: EtcdConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: ETCD_MODULE_OPTIONS,
  OPTIONS_TYPE: ETCD_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<EtcdModuleOptions>({ moduleName: 'Etcd' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createEtcdOptions')
  .setExtras({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();

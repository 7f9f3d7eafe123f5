import { NestEtcdError } from './nest-etcd.error.js';

/**
 * A feature was asked for whose optional package is not installed (or not set up), e.g.
 * `config.nestConfig` without `@nestjs/config`. The message names the package and the fix.
 */
export class OptionalDependencyMissingError extends NestEtcdError {
  override readonly name = 'OptionalDependencyMissingError';

  constructor(
    /** The npm package the feature needs. */
    readonly packageName: string,
    /** The option or feature that needs it. */
    readonly feature: string,
    /** What to do. */
    readonly fix: string = `npm install ${packageName}`,
  ) {
    super(`${feature} needs the optional package ${packageName}: ${fix}`);
  }
}

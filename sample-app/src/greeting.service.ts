import { Injectable } from '@nestjs/common';
import { InjectConfig, type ConfigValue } from '../../lib/index.js';

/**
 * Reads `/config/sample/greeting`. The injected `ConfigValue` is a live handle: `.value` is always the
 * current greeting, so `etcdctl put /config/sample/greeting Hola` takes effect without a restart.
 */
@Injectable()
export class GreetingService {
  constructor(
    @InjectConfig('greeting', { default: 'Hello' }) private readonly greeting: ConfigValue<string>,
  ) {}

  /**
   * The current greeting (`Hello` while the key is not set). A value written as JSON (an object,
   * a number) is shown as its JSON text, never as `[object Object]`.
   */
  get current(): string {
    const value: unknown = this.greeting.value;
    return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

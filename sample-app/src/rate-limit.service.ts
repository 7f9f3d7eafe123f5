import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { pairwise, type Subscription } from 'rxjs';
import { InjectConfig, type ConfigValue } from '../../lib/index.js';

/**
 * A hand-written schema (any object with `parse` works, e.g. a zod schema): `rateLimit` must be a
 * positive integer. A value that fails is rejected by the module, which logs one warning and keeps
 * the last good value.
 */
export const rateLimitSchema = {
  parse(value: unknown): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new Error(`rateLimit must be a positive integer, got ${JSON.stringify(value)}`);
    }
    return value;
  },
};

/** Requests per minute allowed per client; reads `/config/sample/rateLimit` and logs each change. */
@Injectable()
export class RateLimitService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('RateLimit');
  private subscription: Subscription | undefined;

  constructor(
    @InjectConfig('rateLimit', { default: 100, schema: rateLimitSchema })
    private readonly rateLimit: ConfigValue<number>,
  ) {}

  /** The current limit (100 while the key is not set). */
  get current(): number {
    return this.rateLimit.value;
  }

  onModuleInit(): void {
    this.logger.log(`rateLimit is ${this.rateLimit.value}`);
    // A ConfigValue replays its current value first, so pairwise() sees (old, new) from then on.
    this.subscription = this.rateLimit.pipe(pairwise()).subscribe(([previous, next]) => {
      if (previous !== next) this.logger.log(`rateLimit changed: ${previous} -> ${next}`);
    });
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }
}

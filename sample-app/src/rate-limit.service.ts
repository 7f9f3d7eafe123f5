import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { pairwise, type Subscription } from 'rxjs';
import { z } from 'zod';
import { InjectConfig, defineConfig, type ConfigValueOf } from '../../lib/index.js';

const positiveInteger = { error: 'rateLimit must be a positive integer' };

/**
 * `rateLimit`: a positive integer, 100 while unset. A value that fails the schema is rejected by the
 * module (one warning, the last good value kept); the HTTP API checks a value with
 * `config.validate(rateLimitConfig, text)` before writing it, and the zod 4 schema is published at
 * `/config-schemas/<hash>` for operators' tools (`npx nest-etcd validate sample rateLimit -f ...`).
 */
export const rateLimitConfig = defineConfig('rateLimit', {
  schema: z.number(positiveInteger).int(positiveInteger).positive(positiveInteger),
  default: 100,
});

/** Requests per minute allowed per client; reads `/config/sample/rateLimit` and logs each change. */
@Injectable()
export class RateLimitService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('RateLimit');
  private subscription: Subscription | undefined;

  constructor(
    @InjectConfig(rateLimitConfig)
    private readonly rateLimit: ConfigValueOf<typeof rateLimitConfig>,
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

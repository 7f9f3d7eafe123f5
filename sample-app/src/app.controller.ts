import {
  Controller,
  Get,
  Inject,
  type MessageEvent,
  type OnModuleDestroy,
  Sse,
} from '@nestjs/common';
import { Observable, Subject, map, merge, takeUntil } from 'rxjs';
import { EtcdConfigService, EtcdRegistryService } from '../../lib/index.js';
import { GreetingService } from './greeting.service.js';
import { RateLimitService } from './rate-limit.service.js';
import { SERVICE_NAME, SampleSettings } from './sample-settings.js';

/** `GET /` and `GET /events` (`GET /health` is in OpsController). */
@Controller()
export class AppController implements OnModuleDestroy {
  private readonly shutdown$ = new Subject<void>();

  constructor(
    @Inject(GreetingService) private readonly greeting: GreetingService,
    @Inject(RateLimitService) private readonly rateLimit: RateLimitService,
    @Inject(EtcdConfigService) private readonly config: EtcdConfigService,
    @Inject(EtcdRegistryService) private readonly registry: EtcdRegistryService,
    @Inject(SampleSettings) private readonly settings: SampleSettings,
  ) {}

  /** The live greeting and which instance answered. */
  @Get()
  hello(): { greeting: string; instanceId: string; port: number; rateLimit: number } {
    return {
      greeting: this.greeting.current,
      instanceId: this.settings.instanceId,
      port: this.settings.port,
      rateLimit: this.rateLimit.current,
    };
  }

  /**
   * Server-sent events: `event: instances` with the live list of `sample` instances (current list
   * first), and `event: config` for each config change. Try `curl -N localhost:3000/events`.
   */
  @Sse('events')
  events(): Observable<MessageEvent> {
    const instances = this.registry
      .instances$(SERVICE_NAME)
      .pipe(map((list): MessageEvent => ({ type: 'instances', data: list })));
    const changes = this.config.changes$.pipe(
      map((change): MessageEvent => ({ type: 'config', data: change })),
    );
    return merge(instances, changes).pipe(takeUntil(this.shutdown$));
  }

  /** Ends open event streams so the HTTP server can close. */
  onModuleDestroy(): void {
    this.shutdown$.next();
    this.shutdown$.complete();
  }
}

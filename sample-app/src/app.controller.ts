import {
  Controller,
  Get,
  Inject,
  type MessageEvent,
  type OnModuleDestroy,
  ServiceUnavailableException,
  Sse,
} from '@nestjs/common';
import { Observable, Subject, map, merge, takeUntil } from 'rxjs';
import { EtcdConfigService, EtcdRegistryService, type RegistryStatus } from '../../lib/index.js';
import { GreetingService } from './greeting.service.js';
import { RateLimitService } from './rate-limit.service.js';
import { SERVICE_NAME, SampleSettings } from './sample-settings.js';

/** `GET /`, `GET /health` and `GET /events`. */
@Controller()
export class AppController implements OnModuleDestroy {
  private readonly shutdown$ = new Subject<void>();
  private connected = false;
  private registryStatus: RegistryStatus = 'deregistered';

  constructor(
    @Inject(GreetingService) private readonly greeting: GreetingService,
    @Inject(RateLimitService) private readonly rateLimit: RateLimitService,
    @Inject(EtcdConfigService) private readonly config: EtcdConfigService,
    @Inject(EtcdRegistryService) private readonly registry: EtcdRegistryService,
    @Inject(SampleSettings) private readonly settings: SampleSettings,
  ) {
    config.connected$.pipe(takeUntil(this.shutdown$)).subscribe(c => (this.connected = c));
    registry.status$.pipe(takeUntil(this.shutdown$)).subscribe(s => (this.registryStatus = s));
  }

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

  /** 200 when the config watch is connected and this instance is registered, else 503. */
  @Get('health')
  health(): {
    status: 'ok' | 'degraded';
    etcd: { connected: boolean };
    registry: { status: RegistryStatus; instanceId: string };
  } {
    const ok = this.connected && this.registryStatus === 'registered';
    const report = {
      status: ok ? ('ok' as const) : ('degraded' as const),
      etcd: { connected: this.connected },
      registry: { status: this.registryStatus, instanceId: this.settings.instanceId },
    };
    if (!ok) throw new ServiceUnavailableException(report);
    return report;
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

import {
  BadGatewayException,
  Controller,
  Get,
  Inject,
  Param,
  ServiceUnavailableException,
} from '@nestjs/common';
import { EtcdRegistryService, type ServiceInstance } from '../../lib/index.js';
import { SampleSettings } from './sample-settings.js';

/** `GET /instances/:service` and `GET /call/:service`: discovery and load balancing. */
@Controller()
export class DiscoveryController {
  constructor(
    @Inject(EtcdRegistryService) private readonly registry: EtcdRegistryService,
    @Inject(SampleSettings) private readonly settings: SampleSettings,
  ) {}

  /** The live instances of a service, as the registry's watch sees them. */
  @Get('instances/:service')
  instances(@Param('service') service: string): Promise<ServiceInstance[]> {
    return this.registry.getInstances(service);
  }

  /** Picks an instance round-robin and forwards `GET /` to it. */
  @Get('call/:service')
  async call(@Param('service') service: string): Promise<{
    from: string;
    target: { instanceId: string; url: string };
    response: unknown;
  }> {
    const target = await this.registry.choose(service, 'round-robin');
    if (!target) throw new ServiceUnavailableException(`no live instance of "${service}"`);
    const url = `http://${formatHost(target.host)}:${target.port}/`;
    let response: unknown;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
      const text = await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
      response = parseJson(text);
    } catch (err) {
      throw new BadGatewayException(
        `${target.instanceId} at ${url} failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    return {
      from: this.settings.instanceId,
      target: { instanceId: target.instanceId, url },
      response,
    };
  }
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

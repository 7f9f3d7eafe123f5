import {
  BadGatewayException,
  Controller,
  Get,
  Inject,
  Param,
  ServiceUnavailableException,
} from '@nestjs/common';
import {
  EtcdRegistryService,
  NoInstanceAvailableError,
  type ServiceInstance,
} from '../../lib/index.js';
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

  /**
   * `GET /` on a live instance of the service through `registry.fetch()`: round-robin, same zone
   * first, instances that refuse connections left out for a while, and a retry on another
   * instance when one fails at the connection level (a rolling restart loses no request).
   */
  @Get('call/:service')
  async call(@Param('service') service: string): Promise<{
    from: string;
    target: { instanceId: string; url: string };
    response: unknown;
  }> {
    let res: Response;
    try {
      res = await this.registry.fetch(service, '/', { timeout: 3000 });
    } catch (err) {
      if (err instanceof NoInstanceAvailableError)
        throw new ServiceUnavailableException(err.message);
      throw new BadGatewayException(err instanceof Error ? err.message : String(err));
    }
    const text = await res.text();
    if (!res.ok)
      throw new BadGatewayException(`HTTP ${res.status} from ${res.url}: ${text.slice(0, 200)}`);
    // res.url is the instance that answered; name it from the registry's list
    const answered = new URL(res.url);
    const instances = await this.registry.getInstances(service);
    const target = instances.find(
      i => formatHost(i.host) === answered.hostname && String(i.port) === answered.port,
    );
    return {
      from: this.settings.instanceId,
      target: { instanceId: target?.instanceId ?? '?', url: res.url },
      response: parseJson(text),
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

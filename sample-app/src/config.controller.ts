import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Headers,
  Inject,
  Param,
  Put,
} from '@nestjs/common';
import { EtcdConfigService } from '../../lib/index.js';

/** `GET /config` and `PUT /config/:key`: the config center over HTTP. */
@Controller('config')
export class ConfigController {
  constructor(@Inject(EtcdConfigService) private readonly config: EtcdConfigService) {}

  /** Every key under `/config/sample/`, decoded. */
  @Get()
  all(): Record<string, unknown> {
    return this.config.getAll();
  }

  /**
   * Sets one key. A JSON body (`content-type: application/json`) is stored as JSON; any other body is
   * stored as text (which reads back as JSON when it parses, e.g. `250` is the number 250). The
   * value is checked first with `config.validate()`, by the key's format and the schema its
   * providers inject it with (`rateLimit`): 400 instead of a value every instance rejects.
   */
  @Put(':key')
  async set(
    @Param('key') key: string,
    @Body() body: unknown,
    @Headers('content-type') contentType: string | undefined,
  ): Promise<{ key: string; value: unknown }> {
    // main.ts installs one text parser for every content type, so the body is the raw text.
    const text = typeof body === 'string' ? body : '';
    let value: unknown = text;
    if (contentType?.includes('json')) {
      try {
        value = JSON.parse(text);
      } catch {
        throw new BadRequestException(`body is not valid JSON: ${text.slice(0, 100)}`);
      }
    }
    // Checked as the text instances will read back, by the module's own decoding and schema.
    const verdict = this.config.validate(
      key,
      typeof value === 'string' ? value : JSON.stringify(value),
    );
    if (!verdict.ok) throw new BadRequestException(`${key}: ${verdict.reason}`);
    await this.config.set(key, value);
    return { key, value };
  }
}

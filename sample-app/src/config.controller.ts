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
import { rateLimitSchema } from './rate-limit.service.js';

/** Keys this app validates before writing (the same schemas its providers inject with). */
const SCHEMAS: Record<string, { parse(value: unknown): unknown }> = { rateLimit: rateLimitSchema };

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
   * stored as text (which reads back as JSON when it parses, e.g. `250` is the number 250). Keys
   * with a schema (`rateLimit`) are validated first: 400 instead of a value every instance rejects.
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
    const schema = SCHEMAS[key];
    if (schema) {
      try {
        // Validate what instances will read back: text that parses as JSON is read as JSON.
        schema.parse(typeof value === 'string' ? parseJsonOrText(value) : value);
      } catch (err) {
        throw new BadRequestException(err instanceof Error ? err.message : String(err));
      }
    }
    await this.config.set(key, value);
    return { key, value };
  }
}

function parseJsonOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

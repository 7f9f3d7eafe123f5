/**
 * Large YAML documents and the event-loop measure, for the large-value e2e spec and the bench's
 * large-value scenario (one generator and one measure, so both measure the same thing).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** The worst event-loop block (ms) while `run` runs (5 ms resolution). */
export async function worstLoopBlock(run: () => Promise<void>): Promise<number> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  try {
    await run();
  } finally {
    histogram.disable();
  }
  return histogram.max / 1e6;
}

/**
 * A YAML document of about `bytes` bytes whose `marker` field is `marker`: a list of services, four
 * scalar fields each (≈ 9,500 list items per MiB).
 */
export function yamlDocument(marker: string, bytes: number): string {
  const lines = [`marker: ${marker}`, 'services:'];
  let size = lines.join('\n').length;
  for (let i = 0; size < bytes; i++) {
    const block = [
      `  - name: service-${i}`,
      `    url: http://service-${i}.internal:8080/api`,
      `    timeoutMs: ${1000 + i}`,
      `    tags: [a, b, c]`,
    ].join('\n');
    lines.push(block);
    size += block.length + 1;
  }
  return `${lines.join('\n')}\n`;
}

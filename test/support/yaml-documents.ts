/**
 * Large YAML documents, for the large-value e2e spec and the bench's large-value scenario (one
 * generator, so both measure the same shape).
 */

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

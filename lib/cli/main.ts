#!/usr/bin/env node
// The `nest-etcd` command (package.json "bin"): a thin face over the admin core (docs/cli.md).
import { runCli } from './cli-run.js';

const code = await runCli(process.argv.slice(2), {
  out: text => process.stdout.write(`${text}\n`),
  err: text => process.stderr.write(`${text}\n`),
  env: process.env,
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
});
process.exitCode = code;

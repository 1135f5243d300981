#!/usr/bin/env node
// `npm run fuzz -- --runs 10000 [--seed N]`: the property-based suites with more runs than CI's
// default, on whatever backends DATABASE_URL / REDIS_URL select (real Postgres finds the most).
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '10000' }, seed: { type: 'string' } },
});
if (!/^\d+$/.test(values.runs)) {
  process.stderr.write('usage: npm run fuzz -- [--runs N] [--seed N]\n');
  process.exit(2);
}
const env = { ...process.env, FUZZ_RUNS: values.runs, ...(values.seed ? { FUZZ_SEED: values.seed } : {}) };
const files = [
  'test/fuzz/endpoints.test.ts',
  'test/fuzz/dpop.test.ts',
  'test/http/strict_input.test.ts',
  'test/tokens/token_parsing.test.ts',
];
const started = Date.now();
process.stdout.write(
  `fuzzing with ${values.runs} runs per property on ${process.env.DATABASE_URL ? 'Postgres' : 'PGlite'}\n`,
);
const child = spawn('npx', ['ava', '--verbose', '--timeout=6h', ...files], { stdio: 'inherit', env });
child.on('close', (code) => {
  process.stdout.write(`fuzz run finished in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  process.exit(code ?? 1);
});

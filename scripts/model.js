#!/usr/bin/env node
// `npm run model -- --runs N [--seed S] [--commands C]`: the session model (test/model/) for as
// long as you like, with shrinking on, against whatever DATABASE_URL / REDIS_URL say.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '200' },
    seed: { type: 'string' },
    commands: { type: 'string', default: '40' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.warn('usage: npm run model -- [--runs N] [--seed S] [--commands C]\n' +
    '  --runs      runs per seed and test (default 200)\n' +
    '  --seed      one seed instead of the fixed CI list\n' +
    '  --commands  longest command sequence (default 40)\n' +
    'Uses DATABASE_URL and REDIS_URL when set (PGlite and in-process state otherwise).');
  process.exit(0);
}
for (const [k, v] of Object.entries({ runs: values.runs, commands: values.commands, seed: values.seed }))
  if (v !== undefined && !/^\d+$/.test(v)) {
    console.error(`--${k} must be a whole number`);
    process.exit(2);
  }
const env = {
  ...process.env,
  MODEL_RUNS: values.runs,
  MODEL_COMMANDS: values.commands,
  MODEL_SHRINK: '1',
  ...(values.seed ? { MODEL_SEED: values.seed } : {}),
};
const r = spawnSync('npx', ['--no', '--', 'ava', '--timeout=120m', '--verbose', 'test/model/sessions.test.ts'], {
  env,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);

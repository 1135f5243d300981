#!/usr/bin/env node
// The test command: says loudly which backends this run uses, runs ava, and in the real-services
// run (DATABASE_URL and REDIS_URL both set) fails if any test was skipped.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const pg = process.env.DATABASE_URL;
const redis = process.env.REDIS_URL || process.env.REDIS_CLUSTER_NODES;
const realServices = Boolean(pg && redis);
const line = '='.repeat(76);
const mode = pg
  ? `REAL SERVICES — Postgres ${new URL(pg).host}${redis ? `, Redis ${redis}` : ', NO REDIS (Redis tests skip)'}`
  : `EMBEDDED DEFAULT — PGlite in memory${redis ? `, Redis ${redis}` : ', in-process state (Redis tests skip)'}`;
process.stdout.write(`${line}\n  Tessera test run: ${mode}\n${line}\n`);

// ava's own CLI on this Node (no npx in between); ava forks its workers with this same Node.
const ava = fileURLToPath(new URL('../node_modules/ava/entrypoints/cli.mjs', import.meta.url));
const child = spawn(process.execPath, [ava, ...process.argv.slice(2)], {
  stdio: ['inherit', 'pipe', 'pipe'],
  env: process.env,
});
let output = '';
const tee = (target) => (chunk) => {
  output += chunk;
  target.write(chunk);
};
child.stdout.on('data', tee(process.stdout));
child.stderr.on('data', tee(process.stderr));
child.on('close', (code) => {
  let status = code ?? 1;
  const skipped = /(\d+) tests? skipped/.exec(output);
  if (realServices && skipped && status === 0) {
    process.stdout.write(
      `\n  ${skipped[1]} test(s) skipped in the real-services run: nothing may skip here.\n`,
    );
    status = 1;
  }
  process.stdout.write(
    `${line}\n  Tessera test run finished (${mode}): ${status === 0 ? 'PASSED' : 'FAILED'}\n${line}\n`,
  );
  process.exit(status);
});

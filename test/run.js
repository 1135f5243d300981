#!/usr/bin/env node
// The test command: says loudly which backends this run uses, then runs ava.
import { spawnSync } from 'node:child_process';

const pg = process.env.DATABASE_URL;
const redis = process.env.REDIS_URL || process.env.REDIS_CLUSTER_NODES;
const line = '='.repeat(72);
const mode = pg
  ? `REAL SERVICES — Postgres ${new URL(pg).host}${redis ? `, Redis ${redis}` : ', NO REDIS (Redis tests skip)'}`
  : `EMBEDDED DEFAULT — PGlite in memory${redis ? `, Redis ${redis}` : ', in-process state (Redis tests skip)'}`;
process.stdout.write(`${line}\n  Tessera test run: ${mode}\n${line}\n`);
const result = spawnSync('npx', ['ava', ...process.argv.slice(2)], { stdio: 'inherit', env: process.env });
process.stdout.write(
  `${line}\n  Tessera test run finished (${mode}): ${result.status === 0 ? 'PASSED' : 'FAILED'}\n${line}\n`,
);
process.exit(result.status ?? 1);

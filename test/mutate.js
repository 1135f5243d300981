#!/usr/bin/env node
// `npm run mutate [target ...]`: StrykerJS mutation testing of the security-critical modules.
// Each target mutates a few modules and runs, per mutant, only the test files that cover them
// (Stryker's command runner over ava), so one target takes minutes, not hours. Not part of CI:
// it is slow by nature. See README.md "Mutation testing" and docs/mutation-testing.md.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';

/**
 * name → modules to mutate (Stryker `file:fromLine-toLine` ranges keep the run on the security
 * logic) and the test files that exercise them. Keep the test lists narrow: every mutant runs them.
 */
const TARGETS = {
  'token-verification': {
    mutate: ['src/tokens/access_token.ts'],
    tests: [
      'test/http/access_token_headers.test.ts',
      'test/http/discovery.test.ts',
      'test/http/introspect.test.ts',
      'test/http/revoke.test.ts',
      'test/http/sessions_end.test.ts',
    ],
  },
  'client-auth': {
    mutate: ['src/http/client_auth.ts:28-106'],
    tests: ['test/http/token.test.ts'],
  },
  grants: {
    mutate: [
      'src/grants/refresh_token.ts',
      'src/grants/scope.ts',
      'src/grants/password.ts',
      'src/login/credentials.ts:63-105',
    ],
    tests: ['test/http/refresh_refusals.test.ts', 'test/http/token.test.ts', 'test/http/refresh.test.ts'],
  },
  'refresh-rotation': {
    mutate: [
      'src/grants/refresh_token.ts:42-81',
      'src/sessions/tokens.ts',
      'src/stores/postgres/refresh_tokens.ts:192-251',
    ],
    tests: [
      'test/http/refresh_refusals.test.ts',
      'test/contract/refresh_tokens.test.ts',
      'test/http/refresh.test.ts',
    ],
  },
  denylist: {
    mutate: [
      'src/stores/memory/denylist.ts',
      'src/stores/redis/denylist.ts:127-167',
      'src/stores/postgres/revocations.ts:36-46',
    ],
    tests: ['test/contract/denylist.test.ts', 'test/redis/denylist.test.ts'],
  },
};

const REPORT_DIR = 'reports/mutation';

function usage(exit) {
  process.stdout.write(
    `Usage: npm run mutate [-- <target> ...]\n\nTargets: ${Object.keys(TARGETS).join(', ')} (default: all)\n` +
      `Environment: DATABASE_URL and REDIS_URL (strongly recommended: without Redis the denylist's Redis\n` +
      `tests skip and its mutants survive), MUTATE_CONCURRENCY (default 2).\n` +
      `Reports: ${REPORT_DIR}/<target>.html and .json\n`,
  );
  process.exit(exit);
}

/** Mutation score as Stryker defines it: killed + timeout over all valid (not ignored/compile-error) mutants. */
function summarise(target, report) {
  const rows = [];
  let detected = 0;
  let valid = 0;
  for (const [file, { mutants }] of Object.entries(report.files)) {
    for (const m of mutants) {
      if (m.status === 'Ignored' || m.status === 'CompileError' || m.status === 'RuntimeError') continue;
      valid++;
      if (m.status === 'Killed' || m.status === 'Timeout') detected++;
      else
        rows.push(
          `  ${m.status.padEnd(10)} ${relative('.', file)}:${m.location.start.line} ${m.mutatorName}: ${(m.replacement ?? '').replace(/\s+/g, ' ').slice(0, 90)}`,
        );
    }
  }
  const score = valid === 0 ? 100 : (100 * detected) / valid;
  return { target, score, detected, valid, rows };
}

const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) usage(0);
const names = args.length > 0 ? args : Object.keys(TARGETS);
for (const name of names) if (!(name in TARGETS)) usage(2);

if (!process.env.DATABASE_URL || !process.env.REDIS_URL) {
  process.stdout.write(
    'Warning: DATABASE_URL/REDIS_URL not both set: Redis-only tests skip and slow PGlite is used.\n',
  );
}

mkdirSync(REPORT_DIR, { recursive: true });
const summaries = [];
for (const name of names) {
  const { mutate, tests } = TARGETS[name];
  const config = {
    $schema: '../../node_modules/@stryker-mutator/core/schema/stryker-schema.json',
    mutate,
    testRunner: 'command',
    // Bail on the first failing test; one ava process per mutant, its test files one at a time.
    commandRunner: { command: `npx ava --fail-fast --concurrency 1 ${tests.join(' ')}` },
    concurrency: Number(process.env.MUTATE_CONCURRENCY ?? 2),
    coverageAnalysis: 'off',
    reporters: ['clear-text', 'progress', 'json', 'html'],
    clearTextReporter: { allowColor: false, logTests: false, reportMutants: false },
    jsonReporter: { fileName: `${REPORT_DIR}/${name}.json` },
    htmlReporter: { fileName: `${REPORT_DIR}/${name}.html` },
    tempDirName: '.stryker-tmp',
    ignorePatterns: ['/reports', '/data', '/dist', '/keys', '/.tessera-test-*'],
    // A shared, busy machine: leave room before calling a slow run a timeout.
    timeoutMS: 30_000,
    timeoutFactor: 2,
    dryRunTimeoutMinutes: 10,
  };
  const configFile = `${REPORT_DIR}/${name}.stryker.json`;
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
  process.stdout.write(`\n=== mutate ${name}: ${mutate.join(', ')}\n    tests: ${tests.join(' ')}\n`);
  const run = spawnSync('npx', ['stryker', 'run', configFile], { stdio: 'inherit', env: process.env });
  if (run.status !== 0) {
    process.stdout.write(`stryker failed for ${name} (exit ${run.status})\n`);
    process.exit(run.status ?? 1);
  }
  summaries.push(summarise(name, JSON.parse(readFileSync(`${REPORT_DIR}/${name}.json`, 'utf8'))));
}

process.stdout.write('\n=== Mutation score per target\n');
for (const s of summaries) {
  process.stdout.write(
    `${s.target.padEnd(20)} ${s.score.toFixed(1).padStart(5)}%  (${s.detected}/${s.valid} detected)\n`,
  );
  for (const row of s.rows) process.stdout.write(`${row}\n`);
}

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import test from 'ava';
import { PROCESS_START_MS, spawnServer } from './helpers/server_process.js';

// The README's quick start, run as written (bash and curl) against a fresh embedded server with the
// credentials its banner printed, so the doc cannot drift from the product (issue: docs that rot).
const hasCurl = spawnSync('curl', ['--version']).status === 0;
const needsCurl = hasCurl ? test : test.skip;

/** The first sh block after "The first start prints" in README.md. */
function quickStart(): string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const from = readme.indexOf('The first start prints');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(from));
  if (from < 0 || !block) throw new Error('README quick start not found');
  return block[1] as string;
}

needsCurl('README quick start: every step works with the banner credentials [needs curl]', async (t) => {
  const s = await spawnServer(t, {});
  const banner = s.output();
  const ids = [...banner.matchAll(/client_id:\s+(\S+)/g)].map((m) => m[1]);
  const secrets = [...banner.matchAll(/client_secret:\s+(\S+)/g)].map((m) => m[1]);
  const pass = /password:\s+(\S+)/.exec(banner)?.[1];
  t.is(ids.length, 2, banner);
  const script = quickStart()
    .replace(/^CID=\.\.\.;.*$/m, `CID='${ids[0]}'; SECRET='${secrets[0]}'; PASS='${pass}'`)
    .replace(/^API_ID=\.\.\.;.*$/m, `API_ID='${ids[1]}'; API_SECRET='${secrets[1]}'`)
    .replaceAll('http://localhost:8080', s.url);
  t.false(script.includes('...'), 'every placeholder filled');
  const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
    encoding: 'utf8',
    timeout: PROCESS_START_MS,
  });
  t.is(r.status, 0, r.stderr);
  // curl -s prints each JSON answer without a newline: split between top-level objects.
  const answers = r.stdout.trim().replace(/\}\{/g, '}\n{').split('\n');
  t.is(answers.length, 4, r.stdout);
  const [me, jwks, metadata, introspection] = answers.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.is(me?.username, 'demo');
  t.true(Array.isArray(jwks?.keys));
  t.is(metadata?.issuer, `http://localhost:${s.port}`);
  t.like(introspection, { active: true, username: 'demo' });
});

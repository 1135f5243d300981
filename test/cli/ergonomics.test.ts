import test from 'ava';
import { human, table } from '../../src/cli/table.js';
import { cli } from '../helpers/cli.js';

/** An environment that would fail on any connection: none of these may open anything. */
const UNREACHABLE = {
  DATABASE_URL: 'postgres://127.0.0.1:1/none',
  KEY_ENCRYPTION_KEY: '',
  LOG_LEVEL: 'silent',
};

test('--help lists every option of the command with its description and default', async (t) => {
  const r = await cli(['clients', 'create', '--help'], UNREACHABLE);
  t.is(r.code, 0);
  t.regex(r.stdout, /^options:$/m);
  t.regex(r.stdout, /^ {2}--name N +a name for people \(logs, audit\) \(required\)$/m);
  t.regex(r.stdout, /^ {2}--grants G,\.\.\. +grant types, .*\(default: password,refresh_token\)$/m);
  t.regex(r.stdout, /^ {2}--audience URI +.*\(repeatable; default: the ISSUER\)$/m);
  t.regex(r.stdout, /^ {2}--json +print one JSON object/m);
  const rotate = await cli(['keys', 'rotate', '--help'], UNREACHABLE);
  t.regex(rotate.stdout, /^ {2}--force +skip the JWKS max-age wait/m);
});

test('a mistyped command gets one line with the closest command, not the whole usage', async (t) => {
  const sub = await cli(['clients', 'lst'], UNREACHABLE);
  t.is(sub.code, 2);
  t.is(
    sub.stderr,
    'tessera: unknown command "clients lst" (did you mean "clients list"?); tessera clients --help lists the commands\n',
  );
  const group = await cli(['user', 'list'], UNREACHABLE);
  t.regex(group.stderr, /^tessera: unknown command "user" \(did you mean "users"\?\); tessera --help/);
  t.is(group.stderr.split('\n').length, 2, 'one line');
  const nothing = await cli(['frobnicate'], UNREACHABLE);
  t.is(nothing.stderr, 'tessera: unknown command "frobnicate"; tessera --help lists the commands\n');
});

test("an unknown flag is one line naming the closest flag, never Node's parseArgs text", async (t) => {
  const r = await cli(['clients', 'create', '--nme', 'x'], UNREACHABLE);
  t.is(r.code, 2);
  const [first] = r.stderr.split('\n');
  t.is(first, 'tessera clients create: unknown option --nme (did you mean --name?)');
  t.notRegex(r.stderr, /positional argument|place it at the end|ERR_PARSE_ARGS/);
  const missingValue = await cli(['users', 'disable', '--username'], UNREACHABLE);
  t.regex(missingValue.stderr, /^tessera users disable: --username needs a value$/m);
  const stray = await cli(['clients', 'list', 'extra'], UNREACHABLE);
  t.regex(stray.stderr, /^tessera clients list: unexpected argument "extra"$/m);
});

test('an empty stdin for a password says so, before any database is opened', async (t) => {
  for (const argv of [
    ['users', 'create', '--username', 'nobody'],
    ['users', 'set-password', '--username', 'nobody'],
  ]) {
    const r = await cli(argv, UNREACHABLE, '');
    t.is(r.code, 2, argv.join(' '));
    t.regex(r.stderr, /no password on stdin/);
    t.notRegex(r.stderr, /at least 8 characters/);
  }
});

test('clients create --introspect without --audience warns on stderr; with --audience it does not', async (t) => {
  const { readyCliEnv } = await import('../helpers/cli.js');
  const { fileDatabase } = await import('../helpers/database.js');
  const env = await readyCliEnv(t, process.env.DATABASE_URL ? await fileDatabase() : undefined);
  const plain = await cli(
    ['clients', 'create', '--name', 'rs', '--grants', 'client_credentials', '--introspect', '--json'],
    env,
  );
  t.is(plain.code, 0, plain.stderr);
  t.regex(plain.stderr, /^warning: --introspect without --audience: .*\{"active": false\}/);
  t.truthy(JSON.parse(plain.stdout).client_id, 'stdout stays one JSON object');
  const withAudience = await cli(
    [
      'clients',
      'create',
      '--name',
      'rs2',
      '--grants',
      'client_credentials',
      '--introspect',
      '--audience',
      'https://api.example.com',
    ],
    env,
  );
  t.is(withAudience.code, 0, withAudience.stderr);
  t.is(withAudience.stderr, '');
  t.regex(withAudience.stdout, /^client_id +\S+$/m);
});

test('human output: aligned name/value lines and tables; --json stays JSON', (t) => {
  t.is(human({ id: 'u_1', username: 'alice' }), 'id        u_1\nusername  alice');
  t.is(
    table([
      { kid: 'a', state: 'active', roles: ['x', 'y'] },
      { kid: 'longer', state: 'next', roles: [] },
    ]),
    'kid     state   roles\na       active  x,y\nlonger  next    -',
  );
  t.is(human({ clients: [] }), '(none)');
  t.is(human({ rotated: true, keys: [{ kid: 'k' }] }), 'rotated  true\n\nkeys:\nkid\nk');
});

test("suggestions (commander's): a close typo of a flag or a command; nothing for an unrelated word", async (t) => {
  const flag = await cli(['keys', 'rotate', '--forse'], UNREACHABLE);
  t.is(flag.code, 2);
  t.is(flag.stderr.split('\n')[0], 'tessera keys rotate: unknown option --forse (did you mean --force?)');
  const near = await cli(['clients', 'create', '--redirect-url', 'x'], UNREACHABLE);
  t.regex(
    near.stderr,
    /^tessera clients create: unknown option --redirect-url \(did you mean --redirect-uri\?\)$/m,
  );
  const far = await cli(['clients', 'create', '--frobnicate'], UNREACHABLE);
  t.regex(far.stderr, /^tessera clients create: unknown option --frobnicate$/m);
  const sub = await cli(['keys', 'rotat'], UNREACHABLE);
  t.is(sub.code, 2);
  t.is(
    sub.stderr,
    'tessera: unknown command "keys rotat" (did you mean "keys rotate"?); tessera keys --help lists the commands\n',
  );
  const group = await cli(['audt', 'list'], UNREACHABLE);
  t.regex(group.stderr, /^tessera: unknown command "audt" \(did you mean "audit"\?\)/);
});

test('per-flag help shows each default; required and repeatable flags say so', async (t) => {
  const audit = await cli(['audit', 'list', '--help'], UNREACHABLE);
  t.is(audit.code, 0);
  t.regex(audit.stdout, /^ {2}--limit N +events per page, 1 to 500 \(default: 50\)$/m);
  const users = await cli(['users', 'create', '--help'], UNREACHABLE);
  t.regex(users.stdout, /^ {2}--username U +the username \(required\)$/m);
  t.regex(users.stdout, /^ {2}--roles a,b +roles, carried in its tokens \(default: none\)$/m);
  t.regex(users.stdout, /^usage: tessera users create --username U \[--roles a,b\]/);
});

test('--help and a usage error open nothing and leak no commander or Node wording', async (t) => {
  for (const argv of [
    ['clients', 'create', '--nme', 'x'],
    ['users', 'disable', '--username'],
    ['keys', 'revoke'],
    ['keys', 'revoke', 'a', 'b'],
    ['users', 'create'],
    ['--bogus'],
  ]) {
    const r = await cli(argv, UNREACHABLE);
    t.is(r.code, 2, argv.join(' '));
    t.is(r.stdout, '');
    t.regex(r.stderr, /^tessera[ :]/, argv.join(' '));
    t.notRegex(r.stderr, /^error:|Did you mean|argument missing|too many arguments|not specified|commander/m);
  }
  const kid = await cli(['keys', 'revoke'], UNREACHABLE);
  t.regex(kid.stderr, /^tessera keys revoke: KID is required$/m);
  const two = await cli(['keys', 'revoke', 'a', 'b'], UNREACHABLE);
  t.regex(two.stderr, /^tessera keys revoke: unexpected argument "b"$/m);
});

test('a command or group without its words prints its help on stderr, exit 2; a kid may start with "-"', async (t) => {
  const bare = await cli([], UNREACHABLE);
  t.is(bare.code, 2);
  t.is(bare.stdout, '');
  t.regex(bare.stderr, /^usage: tessera <command>[\s\S]*clients create/);
  const group = await cli(['users'], UNREACHABLE);
  t.is(group.code, 2);
  t.regex(group.stderr, /^usage: tessera users <command>[\s\S]*users set-password/);
  // Kids are base64url: `-AbC` is the argument, not an unknown flag (the failure is the missing KEK).
  for (const argv of [
    ['keys', 'revoke', '-AbC'],
    ['keys', 'revoke', '--', '-AbC'],
  ]) {
    const r = await cli(argv, UNREACHABLE);
    t.is(r.code, 1, argv.join(' '));
    t.regex(r.stderr, /^tessera keys revoke: KEY_ENCRYPTION_KEY/, argv.join(' '));
  }
});

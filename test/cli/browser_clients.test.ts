import test from 'ava';
import { cli, readyCliEnv } from '../helpers/cli.js';
import { fileDatabase } from '../helpers/database.js';

test.serial(
  'clients create registers redirect URIs, origins and cookie mode; refuses bad ones',
  async (t) => {
    const database = process.env.DATABASE_URL ? await fileDatabase() : undefined;
    const env = await readyCliEnv(t, database, { ISSUER: 'http://tessera.test' });
    const created = await cli(
      [
        'clients',
        'create',
        '--name',
        'Notes (web)',
        '--public',
        '--grants',
        'authorization_code,refresh_token',
        '--redirect-uri',
        'https://notes.example.com/callback',
        '--redirect-uri',
        'http://localhost:5173/callback',
        '--origin',
        'https://notes.example.com',
        '--refresh-cookie',
        '--json',
      ],
      env,
    );
    t.is(created.code, 0, created.stderr);
    const { client_id } = JSON.parse(created.stdout) as { client_id: string };
    const { clients } = JSON.parse((await cli(['clients', 'list', '--json'], env)).stdout) as {
      clients: Record<string, unknown>[];
    };
    t.like(
      clients.find((c) => c.client_id === client_id),
      {
        public: true,
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: ['https://notes.example.com/callback', 'http://localhost:5173/callback'],
        allowed_origins: ['https://notes.example.com'],
        refresh_cookie: true,
      },
    );

    const refusals: [string[], RegExp][] = [
      [['--grants', 'authorization_code'], /needs at least one --redirect-uri/],
      [['--grants', 'authorization_code', '--redirect-uri', 'http://notes.example.com/cb'], /loopback/],
      [['--grants', 'authorization_code', '--redirect-uri', 'javascript:alert(1)'], /redirect URI/],
      [
        [
          '--grants',
          'authorization_code,refresh_token',
          '--redirect-uri',
          'https://a.example/cb',
          '--refresh-cookie',
        ],
        /--origin/,
      ],
      [['--origin', 'https://a.example/'], /scheme:\/\/host/],
    ];
    for (const [flags, reason] of refusals) {
      const res = await cli(['clients', 'create', '--name', 'x', ...flags], env);
      t.is(res.code, 1, flags.join(' '));
      t.regex(res.stderr, reason, flags.join(' '));
    }
    t.regex(
      (await cli(['clients', 'create', '--help'], env)).stdout,
      /--redirect-uri URI \.\.\.\] \[--origin URL \.\.\.\] \[--refresh-cookie\]/,
    );
  },
);

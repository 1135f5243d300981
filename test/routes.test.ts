import { readFileSync } from 'node:fs';
import test from 'ava';
import type { OpenAPIV3_1 } from 'openapi-types';
import { parse } from 'yaml';
import { createApp } from '../src/app.js';
import { startServer } from './helpers/app.js';

const doc = parse(readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8')) as OpenAPIV3_1.Document;

test('openapi.yaml is OpenAPI 3.1', (t) => {
  t.regex(doc.openapi, /^3\.1\./);
  t.truthy(doc.paths);
});

test('every route the app serves is described, with its method', async (t) => {
  const s = await startServer();
  t.teardown(() => s.close());
  const app = createApp(s.services);
  const routes: { path: string; methods: string[] }[] = [];
  for (const mw of app.middleware as { router?: { stack: { path: string; methods: string[] }[] } }[]) {
    for (const layer of mw.router?.stack ?? []) routes.push(layer);
  }
  t.true(routes.length > 5);
  for (const r of routes) {
    const path = r.path.replace(/:(\w+)/g, '{$1}');
    const item = doc.paths?.[path] as Record<string, unknown> | undefined;
    t.truthy(item, `${path} missing from openapi.yaml`);
    for (const m of r.methods.filter((x) => x !== 'HEAD'))
      t.truthy(item?.[m.toLowerCase()], `${m} ${path} missing`);
  }
});

test('/token documents every status it can answer', (t) => {
  const op = (doc.paths?.['/token'] as OpenAPIV3_1.PathItemObject | undefined)
    ?.post as OpenAPIV3_1.OperationObject;
  for (const status of ['200', '400', '401', '413', '415', '429', '503'])
    t.truthy(op.responses?.[status], status);
});

import { readFileSync } from 'node:fs';
import test from 'ava';
import { parse } from 'yaml';
import { adminBodies } from '../../src/endpoints/admin_schemas.js';

// openapi.yaml's admin request bodies and the zod schemas the routes check them with
// (src/endpoints/admin_schemas.ts) name the same fields and require the same ones.

type Schema = {
  $ref?: string;
  properties?: Record<string, unknown>;
  required?: string[];
  additionalProperties?: boolean;
};
const doc = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { requestBody: { content: Record<string, { schema: Schema }> } }>>;
  components: { schemas: Record<string, Schema> };
};

function bodySchema(path: string, method: string): Schema {
  let schema = doc.paths[path]?.[method]?.requestBody.content['application/json']?.schema as Schema;
  while (schema.$ref) schema = doc.components.schemas[schema.$ref.split('/').at(-1) as string] as Schema;
  return schema;
}

const ROUTES: [path: string, method: string, body: keyof typeof adminBodies][] = [
  ['/admin/clients', 'post', 'createClient'],
  ['/admin/clients/{id}', 'patch', 'updateClient'],
  ['/admin/users', 'post', 'createUser'],
  ['/admin/users/{id}/password', 'post', 'setUserPassword'],
];

for (const [path, method, name] of ROUTES) {
  test(`${method.toUpperCase()} ${path}: openapi.yaml and the zod schema agree on fields and required ones`, (t) => {
    const documented = bodySchema(path, method);
    const shape = adminBodies[name].shape as Record<string, { safeParse(v: unknown): { success: boolean } }>;
    t.deepEqual(Object.keys(documented.properties ?? {}).sort(), Object.keys(shape).sort());
    const required = Object.keys(shape).filter((k) => !shape[k]?.safeParse(undefined).success);
    t.deepEqual([...(documented.required ?? [])].sort(), required.sort());
    t.is(documented.additionalProperties, false, 'unknown fields are refused in both');
  });
}

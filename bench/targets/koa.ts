// Baseline target: bare Koa answering a small JSON body on GET, and on POST the same after parsing a
// form body with koa-bodyparser (the parser Tessera uses). What any Koa endpoint costs at minimum.
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';

const app = new Koa();
app.use(bodyParser({ enableTypes: ['form'], formLimit: '16kb' }));
app.use((ctx) => {
  if (ctx.method === 'POST') {
    const body = ctx.request.body as Record<string, string>;
    ctx.body = { active: typeof body.token === 'string' };
  } else {
    ctx.body = { keys: [{ kty: 'EC', crv: 'P-256', kid: 'baseline' }] };
  }
});
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ url: `http://127.0.0.1:${port}` });
});
process.on('disconnect', () => process.exit(0));

// Serves the browser app example (no build step): node examples/browser-app/serve.mjs
//   TESSERA_ISSUER=http://localhost:8080 CLIENT_ID=c_... PORT=5173
// Register the client first (docs/browser-apps.md):
//   npx --no -- tessera clients create --name "Browser app" --public --grants authorization_code,refresh_token \
//     --redirect-uri http://localhost:5173/callback --origin http://localhost:5173 --refresh-cookie
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

const FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/callback': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
};

/** Starts the app's static server; resolves once it listens. */
export async function startBrowserApp({ issuer, clientId, port = 0, host = '127.0.0.1', scope = 'read' }) {
  const server = createServer(async (req, res) => {
    const { pathname } = new URL(req.url ?? '/', 'http://app');
    const origin = `http://${req.headers.host}`;
    // No inline script, no framing; scripts talk only to this origin and to Tessera. The code
    // in the callback URL must not leak to other sites through Referer.
    res.setHeader(
      'Content-Security-Policy',
      `default-src 'self'; connect-src 'self' ${new URL(issuer).origin}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
    );
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    if (pathname === '/config.json') {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ issuer, clientId, redirectUri: `${origin}/callback`, scope }));
      return;
    }
    const file = FILES[pathname];
    if (!file || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    res.setHeader('Content-Type', file[1]);
    res.end(await readFile(fileURLToPath(new URL(file[0], import.meta.url))));
  });
  await new Promise((resolve) => server.listen(port, host, resolve));
  const address = server.address();
  return {
    url: `http://${host}:${address.port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  const issuer = process.env.TESSERA_ISSUER ?? 'http://localhost:8080';
  const clientId = process.env.CLIENT_ID;
  if (!clientId) {
    process.stderr.write('CLIENT_ID is required (see the comment at the top of this file)\n');
    process.exit(2);
  }
  const app = await startBrowserApp({ issuer, clientId, port: Number(process.env.PORT ?? 5173), host: process.env.HOST ?? 'localhost' });
  process.stdout.write(`browser app on ${app.url} (Tessera: ${issuer})\n`);
}

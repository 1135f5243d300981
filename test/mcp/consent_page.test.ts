import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { type Browser, chromium, type Page } from 'playwright-core';
import { INSTALL_ROOT } from '../../src/install_root.js';
import { useServer } from '../helpers/app.js';
import { pkce } from '../helpers/authorize.js';
import { documentFor, startDocumentServer } from '../helpers/metadata_documents.js';
import { createUser } from '../helpers/oauth.js';

// The consent page in a real browser (Debian's chromium; .ci/run installs it, so CI never skips):
// what it must show a user about a third-party client (docs/mcp.md, "Consent"), and that it runs
// no script. The metadata-document case takes the screenshot in docs/: TESSERA_SCREENSHOTS=docs
// npx ava test/mcp/consent_page.test.ts writes docs/consent-page.png (otherwise a temporary file).
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const SCREENSHOTS = process.env.TESSERA_SCREENSHOTS;
const REDIRECT = 'http://127.0.0.1:33418/callback';
const RESOURCE = 'https://mcp.example.test/mcp';
const SCOPES = 'mcp:tools notes:read';

async function launch(t: ExecutionContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.teardown(() => browser.close());
  return browser;
}

/** Opens /authorize in the browser, signs in, and returns the page showing the consent form. */
async function consentPage(
  browser: Browser,
  issuer: string,
  clientId: string,
  user: { username: string; password: string },
): Promise<{ page: Page; csp: string }> {
  const context = await browser.newContext({ viewport: { width: 480, height: 760 } });
  const page = await context.newPage();
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: SCOPES,
    state: 'st',
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
    resource: RESOURCE,
  });
  await page.goto(`${issuer}/authorize?${params}`);
  await page.fill('#username', user.username);
  await page.fill('#password', user.password);
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${issuer}/authorize` && r.request().method() === 'POST'),
    page.click('button[type="submit"]'),
  ]);
  await page.waitForSelector('h1:has-text("Allow access?")');
  return { page, csp: (await answer.allHeaders())['content-security-policy'] ?? '' };
}

/** The facts list (dt → dd text) and the rest of what the user reads. */
async function shown(page: Page) {
  return page.evaluate(() => {
    const facts: Record<string, string> = {};
    for (const dt of document.querySelectorAll('dl.facts dt'))
      facts[dt.textContent?.trim() ?? ''] = (dt.nextElementSibling as HTMLElement).innerText.trim();
    return {
      name: document.querySelector('.lead strong')?.textContent ?? '',
      warning: (document.querySelector('[role="alert"]') as HTMLElement | null)?.innerText ?? '',
      scopes: [...document.querySelectorAll('ul.scopes li')].map((li) => li.textContent),
      facts,
      scripts: document.scripts.length,
      buttons: [...document.querySelectorAll('form button')].map((b) => (b as HTMLButtonElement).value),
    };
  });
}

/** CSP: an inline script added to the page does not run, and the browser reports the violation. */
async function assertNoScriptRuns(t: ExecutionContext, page: Page) {
  const violation = page.evaluate(
    () =>
      new Promise<string>((resolve) =>
        document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective), {
          once: true,
        }),
      ),
  );
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.ranInline = true';
    document.head.append(s);
  });
  t.regex(await violation, /^script-src/);
  t.is(await page.evaluate(() => (window as { ranInline?: boolean }).ranInline), undefined);
}

(hasChromium ? test : test.skip)(
  'metadata-document client: name, client_id host, redirect host with the loopback warning, scopes, resource; no script runs; Allow returns a code [writes docs/consent-page.png]',
  async (t) => {
    const docs = await startDocumentServer();
    t.teardown(() => docs.close());
    const clientId = `${docs.origin}/clients/notes-agent.json`;
    docs.routes.set('/clients/notes-agent.json', {
      body: documentFor(clientId, { client_name: 'Notes Agent', redirect_uris: [REDIRECT] }),
    });
    const s = await useServer(t, {
      issuerFromUrl: true,
      env: {
        CLIENT_ID_METADATA_DOCUMENTS: 'on',
        CIMD_ALLOW_LOOPBACK: 'true',
        THIRD_PARTY_SCOPES: SCOPES,
        THIRD_PARTY_AUDIENCES: RESOURCE,
      },
      metadataDocumentFetch: { ca: docs.ca },
    });
    const user = await createUser(s);
    const browser = await launch(t);
    const { page, csp } = await consentPage(browser, s.url, clientId, user);
    t.regex(csp, /default-src 'none'/);
    t.regex(csp, /frame-ancestors 'none'/);

    const seen = await shown(page);
    t.is(seen.name, 'Notes Agent');
    t.is(seen.facts.App, new URL(clientId).host, 'the host that serves the document');
    t.is(seen.facts['Answer goes to'], '127.0.0.1:33418');
    t.regex(seen.warning, /a program on this computer \(127\.0\.0\.1:33418\)/);
    t.deepEqual(seen.scopes, ['mcp:tools', 'notes:read']);
    t.is(seen.facts.For, RESOURCE);
    t.is(seen.scripts, 0);
    t.deepEqual(seen.buttons, ['allow', 'deny']);
    const dir = SCREENSHOTS
      ? path.resolve(INSTALL_ROOT, SCREENSHOTS)
      : mkdtempSync(path.join(tmpdir(), 'consent-'));
    if (!SCREENSHOTS) t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    await page.screenshot({ path: path.join(dir, 'consent-page.png'), fullPage: true });
    t.true(statSync(path.join(dir, 'consent-page.png')).size > 10_000);
    await assertNoScriptRuns(t, page);

    // The redirect to the client's loopback listener (nothing listens there: the request is the proof).
    const [redirect] = await Promise.all([
      page.waitForRequest((r) => r.url().startsWith(REDIRECT)),
      page.click('button[value="allow"]'),
    ]);
    const back = new URL(redirect.url());
    t.truthy(back.searchParams.get('code'));
    t.is(back.searchParams.get('iss'), s.url);
  },
);

(hasChromium ? test : test.skip)(
  'registered client: "registered dynamically" in place of a host; no script runs',
  async (t) => {
    const s = await useServer(t, {
      issuerFromUrl: true,
      env: {
        CLIENT_REGISTRATION: 'open',
        THIRD_PARTY_SCOPES: SCOPES,
        THIRD_PARTY_AUDIENCES: RESOURCE,
        RATE_LIMIT_REGISTRATIONS_PER_HOUR: '1000',
      },
    });
    const reg = await fetch(`${s.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'Typed <b>Name</b>',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: [REDIRECT],
      }),
    });
    const clientId = String(((await reg.json()) as { client_id: string }).client_id);
    const browser = await launch(t);
    const { page } = await consentPage(browser, s.url, clientId, await createUser(s));
    const seen = await shown(page);
    t.is(seen.name, 'Typed <b>Name</b>', 'shown as text, never as markup');
    t.is(seen.facts.App, 'registered dynamically');
    t.is(seen.facts['Answer goes to'], '127.0.0.1:33418');
    t.regex(seen.warning, /a program on this computer/);
    t.is(seen.scripts, 0);
    await assertNoScriptRuns(t, page);
  },
);

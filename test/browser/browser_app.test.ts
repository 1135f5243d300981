import { existsSync } from 'node:fs';
import test from 'ava';
import { type Browser, chromium } from 'playwright-core';
import { startBrowserApp } from '../../examples/browser-app/serve.mjs';
import { freePort, useServer } from '../helpers/app.js';
import { createUser } from '../helpers/oauth.js';

// Debian's chromium (.ci/run installs it, so CI never skips this); locally it may be absent.
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
/** Set to a folder (e.g. docs) to write screenshots of the login page there. */
const SCREENSHOTS = process.env.TESSERA_SCREENSHOTS;

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // This machine has no network beyond loopback: background services would only fail.
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
}

/** A cookie-mode public client for an app served from `origin`. */
function registerApp(s: Awaited<ReturnType<typeof useServer>>, name: string, origin: string) {
  return s.services.clientAccounts.create({
    name,
    isPublic: true,
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['read'],
    redirectUris: [`${origin}/callback`],
    allowedOrigins: [origin],
    refreshCookie: true,
  });
}

(hasChromium ? test : test.skip)(
  'the browser app signs in through the login page, keeps the refresh token in an HttpOnly cookie, refreshes, is refused from another origin, logs out; a second app on another origin keeps its own cookie throughout [needs /usr/bin/chromium]',
  async (t) => {
    const s = await useServer(t, { issuerFromUrl: true });
    const user = await createUser(s);
    const appPort = await freePort();
    const appOrigin = `http://127.0.0.1:${appPort}`;
    const client = await registerApp(s, 'Notes (browser)', appOrigin);
    const app = await startBrowserApp({ issuer: s.url, clientId: client.client_id, port: appPort });
    t.teardown(() => app.close());
    // A second cookie-mode app of the same user, on its own origin (N9).
    const photosPort = await freePort();
    const photosClient = await registerApp(s, 'Photos (browser)', `http://127.0.0.1:${photosPort}`);
    const photos = await startBrowserApp({
      issuer: s.url,
      clientId: photosClient.client_id,
      port: photosPort,
    });
    t.teardown(() => photos.close());
    // The same app served from an origin nobody registered.
    const stranger = await startBrowserApp({ issuer: s.url, clientId: client.client_id });
    t.teardown(() => stranger.close());

    const browser = await launch();
    t.teardown(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    const page = await context.newPage();

    await page.goto(app.url);
    await page.waitForSelector('body[data-state="signed-out"]');
    await page.click('#sign-in');
    await page.waitForURL(`${s.url}/authorize?**`);
    t.is(await page.locator('label[for="username"]').textContent(), 'Username');
    if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/login-page.png`, fullPage: true });

    // A wrong password first: the page says so and stays.
    await page.fill('#username', user.username);
    await page.fill('#password', 'not the password');
    await page.click('button[type="submit"]');
    await page.waitForSelector('#login-error');
    t.is((await page.textContent('#login-error'))?.trim(), 'Incorrect username or password.');
    if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/login-page-failed.png`, fullPage: true });

    await page.fill('#password', user.password);
    await page.click('button[type="submit"]');
    await page.waitForSelector('body[data-state="signed-in"]');
    t.is(await page.textContent('#status'), `Signed in as ${user.username}`);
    t.is(new URL(page.url()).search, '', 'the code left the address bar');

    const cookieOf = async (clientId: string) =>
      (await context.cookies(s.url)).find((c) => c.name === `tessera_rt_${clientId}`);
    const refreshCookie = () => cookieOf(client.client_id);
    const photosCookie = () => cookieOf(photosClient.client_id);
    const first = await refreshCookie();
    t.truthy(first);
    t.true(first?.httpOnly);
    t.is(first?.sameSite, 'Strict');
    t.is(first?.path, '/');
    // Cookies are per host, not per port: only HttpOnly keeps it from the app's scripts.
    t.notRegex(await page.evaluate(() => document.cookie), /tessera_rt/);

    await page.click('#refresh');
    await page.waitForFunction(
      () => document.getElementById('status')?.textContent === 'Token refreshed through the cookie',
    );
    t.regex((await page.textContent('#output')) ?? '', /"refresh_token_in_body": false/);
    const second = await refreshCookie();
    t.not(second?.value, first?.value, 'rotated');

    // A reload keeps the user signed in through the cookie alone.
    await page.reload();
    await page.waitForSelector('body[data-state="signed-in"]');
    const notesCookie = (await refreshCookie())?.value;

    // The second app: its silent refresh on load fails (it has no cookie yet) and leaves the first
    // app's cookie alone; its sign-in (the login session asks no password) sets its own cookie.
    const other = await context.newPage();
    await other.goto(photos.url);
    await other.waitForSelector('body[data-state="signed-out"]');
    t.is(
      (await refreshCookie())?.value,
      notesCookie,
      "the second app's failed refresh left the first app's cookie",
    );
    await other.click('#sign-in');
    await other.waitForSelector('body[data-state="signed-in"]');
    t.is(await other.textContent('#status'), `Signed in as ${user.username}`);
    t.truthy(await photosCookie());
    t.is(
      (await refreshCookie())?.value,
      notesCookie,
      "the second app's sign-in did not overwrite the first's cookie",
    );

    // The first app refreshes with its own cookie; the second app's stays as it was.
    const photosBefore = (await photosCookie())?.value;
    await page.click('#refresh');
    await page.waitForFunction(
      () => document.getElementById('status')?.textContent === 'Token refreshed through the cookie',
    );
    t.not((await refreshCookie())?.value, notesCookie);
    t.is((await photosCookie())?.value, photosBefore);

    // The second app logs out: its cookie goes, the first app's stays and still works.
    await other.click('#logout');
    await other.waitForSelector('body[data-state="signed-out"]');
    t.is(await photosCookie(), undefined, "the second app's logout cleared its cookie");
    t.truthy(await refreshCookie(), "and not the first app's");
    await page.reload();
    await page.waitForSelector('body[data-state="signed-in"]');

    // The same code on an unregistered origin: the cookie goes along (same site), Tessera refuses.
    // The browser hides the refused answer from the page (no CORS headers); the server tells.
    const refused = new Promise<{ status: number; error: string }>((resolve) =>
      s.services.events.on('request.error', (e) => {
        if (e.route === '/token') resolve(e);
      }),
    );
    const strangerPage = await context.newPage();
    await strangerPage.goto(stranger.url);
    await strangerPage.waitForSelector('body[data-state="signed-out"]');
    t.like(await refused, { status: 403, error: 'invalid_request' });
    t.regex((await strangerPage.textContent('#output')) ?? '', /fetch/i, 'the page saw a network error');
    t.truthy(await refreshCookie(), 'the refusal did not touch the cookie');

    await page.click('#logout');
    await page.waitForSelector('body[data-state="signed-out"]');
    t.is(await refreshCookie(), undefined, 'logout cleared the cookie');
    await page.reload();
    await page.waitForSelector('body[data-state="signed-out"]');
  },
);

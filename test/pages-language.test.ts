/**
 * The pages outside the dashboard — the installer, the Xero window (confirmation, connected, refused) and the error
 * page — are built from the views' components and speak the user's language, as every other page; the browser
 * scripts are ES modules that import what they use.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startBitrix24Emulator, type Bitrix24Emulator } from './emulators/bitrix24/index.js';
import { startXeroEmulator, type XeroEmulator } from './emulators/xero/index.js';
import { startConnector, type TestConnector } from './helpers/connector.js';
import { startInstalledConnector } from './helpers/portal.js';
import { confirmConsent, followConsent } from './helpers/xero-consent.js';

const frameAncestors = (csp: string | null | undefined) => (csp ?? '').split(';').map((d) => d.trim()).find((d) => d.startsWith('frame-ancestors ')) ?? '';

describe('the installer, the Xero window and the error page in the user\'s language', () => {
  let b24: Bitrix24Emulator;
  let xero: XeroEmulator;
  let c: TestConnector;
  let session: (userId: number) => string;

  before(async () => {
    b24 = await startBitrix24Emulator();
    xero = await startXeroEmulator();
  });
  after(async () => {
    await b24.close();
    await xero.close();
  });
  beforeEach(async () => {
    b24.reset();
    xero.reset();
    xero.addOrganisation({ name: 'Muster <b>GmbH</b>' });
  });
  afterEach(async () => c?.close());

  /** "Connect Xero" from a page in `lang` (or none): the start URL of the Xero window. */
  const startUrl = async (lang?: string) => {
    const res = await fetch(`${c.url}/api/xero/connect`, {
      method: 'POST',
      headers: { 'X-Connector-Session': session(1), 'content-type': 'application/json' },
      body: JSON.stringify(lang ? { lang } : {}),
    });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { startUrl: string }).startUrl;
  };

  it('when a German-speaking admin installs the app, then the installer page is German, built of the panel and alert components, and only the portal may frame it', async () => {
    c = await startConnector({
      xero,
      envFor: (url) => {
        const app = b24.registerApp({ handlerUrl: `${url}/app`, installUrl: `${url}/install` });
        return { B24_CLIENT_ID: app.clientId, B24_CLIENT_SECRET: app.clientSecret, B24_OAUTH_URL: b24.baseUrl };
      },
    });
    const res = await b24.install({ userId: 1, lang: 'de' });
    assert.equal(res.status, 200, res.body);
    assert.match(res.body, /<html lang="de">/);
    assert.match(res.body, /<section class="panel" id="install" aria-labelledby="install-h">/);
    assert.match(res.body, /<h2 id="install-h">Der Xero-Connector ist installiert<\/h2>/);
    assert.match(res.body, /<div class="alert alert-(success|alert)" role="(status|alert)">/);
    assert.match(res.body, /<strong>Nächster Schritt:<\/strong> Öffnen Sie die App/);
    assert.match(res.body, /<em>Xero verbinden<\/em>/);
    assert.match(res.body, /id="finish-state">Die Installation wird in Bitrix24 abgeschlossen…</);
    assert.equal(frameAncestors(res.headers['content-security-policy']), `frame-ancestors 'self' ${new URL(b24.baseUrl).origin}`);
    b24.finishInstall();
    const english = await b24.install({ userId: 1 });
    assert.match(english.body, /<h2 id="install-h">The Xero connector is installed<\/h2>/);
  });

  it('when the admin clicks "Connect Xero" on a German page, then the Xero window asks and confirms in German, escaping the organisation\'s name, under the same headers', async () => {
    ({ c, session } = await startInstalledConnector(b24, xero));
    const landing = await followConsent(await startUrl('de'));
    assert.equal(landing.status, 200, landing.html);
    assert.match(landing.html, /<html lang="de">/);
    assert.match(landing.html, /Die Xero-Organisation <strong id="tenant-name">Muster &lt;b&gt;GmbH&lt;\/b&gt;<\/strong> mit dem Bitrix24-Portal <strong id="portal-domain">127\.0\.0\.1:\d+<\/strong> verbinden\?/);
    assert.match(landing.html, /<button class="btn btn-primary" type="submit" id="confirm-connect">Verbinden<\/button>/);
    assert.equal(landing.html.includes('<b>GmbH'), false);
    const done = await confirmConsent(c.url, landing);
    assert.equal(done.status, 200, done.html);
    assert.match(done.html, /<div class="alert alert-success" role="status" id="result">Mit <strong>Muster &lt;b&gt;GmbH&lt;\/b&gt;<\/strong> für das Bitrix24-Portal <strong id="portal-domain">127\.0\.0\.1:\d+<\/strong> verbunden\./);
    assert.match(done.html, /<script type="module" src="\/static\/xero-result\.js"><\/script>/);
    // The same framing and CSP as before: a top-level window nobody may frame, nothing inline.
    const page = await fetch(`${c.url}/xero/callback?error=access_denied&state=unknown`);
    assert.equal(frameAncestors(page.headers.get('content-security-policy')), "frame-ancestors 'none'");
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'; script-src-attr 'none'/);
  });

  it('when Xero refuses a German admin\'s consent, then the refusal is in German; a browser asking for German without a carried language gets German too, and English otherwise', async () => {
    ({ c, session } = await startInstalledConnector(b24, xero));
    const start = await fetch(await startUrl('de'), { redirect: 'manual' });
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    const refused = await fetch(`${c.url}/xero/callback?error=access_denied&state=${encodeURIComponent(state)}`);
    assert.equal(refused.status, 400);
    const html = await refused.text();
    assert.match(html, /<div class="alert alert-alert" role="alert" id="result">Der Zugriff auf Xero wurde nicht gewährt\./);
    assert.match(html, /id="error-code">Code: XERO\.CONSENT_DENIED</);
    const browser = await fetch(`${c.url}/xero/callback?code=abc&state=forged`, { headers: { 'accept-language': 'de-DE,de;q=0.9,en;q=0.8' } });
    assert.match(await browser.text(), /Dieser Xero-Anmeldelink wurde schon verwendet oder ist abgelaufen/);
    const plain = await fetch(`${c.url}/xero/callback?error=access_denied&state=x`);
    assert.match(await plain.text(), /<html lang="en">[\s\S]*Access to Xero was not granted\./);
  });

  it('when a page is asked for with LANG=de and cannot be served, then the error page is German, built of the components, with the path escaped', async () => {
    ({ c, session } = await startInstalledConnector(b24, xero));
    const res = await fetch(`${c.url}/<img src=x>?LANG=de`, { headers: { Accept: 'text/html' } });
    assert.equal(res.status, 404);
    const html = await res.text();
    assert.match(html, /<html lang="de">/);
    assert.match(html, /<section class="panel" id="problem" aria-labelledby="problem-h">/);
    assert.match(html, /<div class="alert alert-alert" role="alert" id="error-message">Unter GET \/%3Cimg%20src=x%3E gibt es nichts\.<\/div>/);
    assert.match(html, /id="error-code">Code: HTTP\.NOT_FOUND</);
    assert.equal(html.includes('<img'), false);
    const english = await (await fetch(`${c.url}/nothing-here`, { headers: { Accept: 'text/html' } })).text();
    assert.match(english, /<html lang="en">[\s\S]*Nothing is served at GET \/nothing-here\./);
  });
});

describe('the browser scripts', () => {
  const dir = fileURLToPath(new URL('../views/static/', import.meta.url));
  const scripts = readdirSync(dir).filter((f) => f.endsWith('.js'));

  it('when the pages\' scripts are read, then each is a type-checked ES module that imports what it uses instead of sharing window globals', () => {
    assert.ok(scripts.length >= 9, scripts.join(' '));
    for (const file of scripts) {
      const source = readFileSync(`${dir}${file}`, 'utf8');
      assert.match(source, /^\/\/ @ts-check\n/, `${file} is type-checked`);
      assert.match(source, /^(import|export) /m, `${file} is a module`);
      assert.doesNotMatch(source, /window\.connector\w+/, `${file} uses no window.connector… global`);
      assert.doesNotMatch(source, /^\(\(\) => \{|^\(async \(\) => \{/m, `${file} is not wrapped in an IIFE`);
    }
    const tsconfig = JSON.parse(readFileSync(fileURLToPath(new URL('../tsconfig.browser.json', import.meta.url)), 'utf8')) as { compilerOptions: { checkJs: boolean } };
    assert.equal(tsconfig.compilerOptions.checkJs, true);
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { scripts: Record<string, string> };
    assert.match(pkg.scripts.typecheck!, /tsconfig\.browser\.json/);
  });
});

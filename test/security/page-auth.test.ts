/**
 * Attacks on the app's pages: tokens of another app, and scripts injected inline (the CSP must stop them).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VIEWS_DIR } from '../../app/http/pages.js';
import { startEnvironment, type Environment } from '../helpers/env.js';

function postForm(url: string, form: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
}

describe('page authentication and content security', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment();
  });
  after(async () => env.close());

  it('when a portal user opens the dashboard with a token of another app installed on the same portal, then the page is refused with 401 and no session is issued', async () => {
    const other = env.b24.installOtherApp();
    const { accessToken } = env.b24.issueTokens(1, { clientId: other.clientId });
    const res = await postForm(`${env.c.url}/app`, { ...env.b24.frameAuth(1), AUTH_ID: accessToken });
    const body = await res.text();
    assert.equal(res.status, 401, body);
    assert.match(body, /another Bitrix24 application/);
    assert.doesNotMatch(body, /data-session=/);
  });

  it('when a page inside Bitrix24 is refused, then its error page may be framed by the installed portal only, so the card tab says why', async () => {
    const other = env.b24.installOtherApp();
    const { accessToken } = env.b24.issueTokens(1, { clientId: other.clientId });
    const res = await fetch(`${env.c.url}/app`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, body: new URLSearchParams({ ...env.b24.frameAuth(1), AUTH_ID: accessToken }) });
    assert.equal(res.status, 401);
    const portalOrigin = new URL(env.b24.baseUrl).origin;
    const ancestors = (res.headers.get('content-security-policy') ?? '').split(';').map((d) => d.trim()).find((d) => d.startsWith('frame-ancestors ')) ?? '';
    assert.equal(ancestors, `frame-ancestors 'self' ${portalOrigin}`);
    assert.match(await res.text(), /another Bitrix24 application/);
    // An API answer stays unframeable.
    const api = await fetch(`${env.c.url}/no-such-api`, { headers: { accept: 'application/json' } });
    assert.match(api.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  });

  it('when the dashboard is opened with this app\'s own token, then it is served (the check refuses only foreign tokens)', async () => {
    env.b24.installOtherApp();
    const res = await postForm(`${env.c.url}/app`, env.b24.frameAuth(2));
    assert.equal(res.status, 200, await res.text());
  });

  it('when a page is served, then its Content-Security-Policy forbids inline scripts, inline event handlers and style attributes', async () => {
    const res = await postForm(`${env.c.url}/app`, env.b24.frameAuth(1));
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    const directive = (name: string) => csp.split(';').map((d) => d.trim()).find((d) => d.startsWith(`${name} `)) ?? '';
    assert.equal(directive('script-src'), "script-src 'self'");
    assert.equal(directive('style-src'), "style-src 'self'");
    assert.equal(directive('script-src-attr'), "script-src-attr 'none'");
    assert.equal(directive('style-src-attr'), "style-src-attr 'none'");
    assert.match(directive('frame-ancestors'), /^frame-ancestors 'self' http:\/\/127\.0\.0\.1:\d+$/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  });

  it('when any template or error page is rendered, then it contains no inline <script>, no on…= handler and no style= attribute', async () => {
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ejs') ? [path.join(dir, e.name)] : []));
    for (const file of files(VIEWS_DIR)) {
      const text = readFileSync(file, 'utf8');
      // JSON data blocks (type="application/json") are data, not scripts: CSP lets them be and browsers never run them.
      assert.doesNotMatch(text, /<script(?![^>]*\bsrc=)(?![^>]*type="application\/json")[^>]*>/i, `${file} has an inline script`);
      assert.doesNotMatch(text, /\son[a-z]+\s*=/i, `${file} has an inline event handler`);
      assert.doesNotMatch(text, /\sstyle\s*=/i, `${file} has a style attribute`);
    }
    const notFound = await fetch(`${env.c.url}/no-such-page`, { headers: { accept: 'text/html' } });
    const html = await notFound.text();
    assert.equal(notFound.status, 404);
    assert.doesNotMatch(html, /\sstyle\s*=|<script/i);
    assert.doesNotMatch(notFound.headers.get('content-security-policy') ?? 'missing', /unsafe-inline|missing/);
  });
});

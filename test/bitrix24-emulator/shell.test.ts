import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startWorld, rest, fixture, type World } from './helpers.js';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';

/** Reads the hidden form the shell posts into the app frame. */
function formOf(html: string, id: string): { action: string; target: string; fields: Record<string, string>; frameName: string } {
  const form = new RegExp(`<form id="${id}-form" method="post" target="([^"]+)" action="([^"]+)">(.*?)</form>`, 's').exec(html);
  assert.ok(form, `form ${id} present`);
  const unesc = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const fields = Object.fromEntries(Array.from(form[3]!.matchAll(/name="([^"]+)" value="([^"]*)"/g), (m) => [m[1]!, unesc(m[2]!)]));
  const frame = new RegExp(`<iframe id="${id}" name="([^"]+)"`).exec(html);
  return { target: unesc(form[1]!), action: unesc(form[2]!), fields, frameName: unesc(frame![1]!) };
}

describe('Bitrix24 emulator: portal shell pages', () => {
  let w: World;
  before(async () => { w = await startWorld({ seedDemo: true }); });
  after(async () => { await w.close(); });
  beforeEach(() => {
    w.emu.reset();
    const reg = w.emu.registerApp({ handlerUrl: `${w.handler.url}/b24/app`, installUrl: `${w.handler.url}/b24/install` });
    w.clientId = reg.clientId;
    w.clientSecret = reg.clientSecret;
  });

  test('when a user opens the app page, then a hidden form POSTs the Bitrix24 fields into an iframe named DOMAIN|PROTOCOL|APP_SID with tokens of that user', async () => {
    w.emu.installSilently();
    const html = await (await fetch(`${w.emu.baseUrl}/portal?user=2`)).text();
    const f = formOf(html, 'app-frame');
    assert.equal(f.target, f.frameName);
    const [domain, protocol, appSid] = f.frameName.split('|');
    assert.deepEqual([domain, protocol, appSid], [w.emu.domain, '0', w.emu.app()!.appSid]);
    const action = new URL(f.action);
    assert.equal(`${action.origin}${action.pathname}`, `${w.handler.url}/b24/app`);
    assert.deepEqual([...action.searchParams.keys()].sort(), ['APP_SID', 'DOMAIN', 'LANG', 'PROTOCOL']);
    const sample = fixture('app-page.post.json');
    for (const k of Object.keys(sample).filter((k) => !['DOMAIN', 'PROTOCOL', 'LANG', 'APP_SID'].includes(k))) assert.ok(k in f.fields, k);
    assert.equal(f.fields.PLACEMENT, 'DEFAULT');
    const profile = await rest(w.emu, 'profile', {}, f.fields.AUTH_ID!);
    assert.deepEqual([(profile.body.result as { ID: string }).ID, (profile.body.result as { ADMIN: boolean }).ADMIN], ['2', false]);
  });

  test('when the app is not fully installed, then non-admins see the notice and the admin gets the installer in the frame', async () => {
    await w.emu.install();
    const userPage = await (await fetch(`${w.emu.baseUrl}/portal?user=2`)).text();
    assert.match(userPage, /The application is not fully installed yet/);
    const adminPage = await (await fetch(`${w.emu.baseUrl}/portal?user=1`)).text();
    assert.ok(formOf(adminPage, 'app-frame').action.startsWith(`${w.handler.url}/b24/install?`));
    const finish = await fetch(`${w.emu.baseUrl}/portal/api/install-finish?user=2`, { method: 'POST' });
    assert.equal(finish.status, 403);
    assert.equal((await fetch(`${w.emu.baseUrl}/portal/api/install-finish?user=1`, { method: 'POST' })).status, 200);
    assert.equal(w.emu.app()!.installed, true);
  });

  test('when an invoice card is opened, then each bound tab gets PLACEMENT and PLACEMENT_OPTIONS as a JSON string with the item ID', async () => {
    const { accessToken } = w.emu.installSilently();
    await rest(w.emu, 'placement.bind', { PLACEMENT: 'CRM_SMART_INVOICE_DETAIL_TAB', HANDLER: `${w.handler.url}/b24/tab`, TITLE: 'Xero' }, accessToken);
    const id = w.emu.items(SMART_INVOICE)[0]!.id;
    const html = await (await fetch(`${w.emu.baseUrl}/portal/placement/CRM_SMART_INVOICE_DETAIL_TAB?id=${String(id)}&user=1`)).text();
    const f = formOf(html, 'placement-frame-0');
    assert.equal(f.fields.PLACEMENT, 'CRM_SMART_INVOICE_DETAIL_TAB');
    const options = JSON.parse(f.fields.PLACEMENT_OPTIONS!) as { ID: string; URI: string };
    assert.equal(options.ID, String(id));
    assert.equal(typeof f.fields.PLACEMENT_OPTIONS, 'string');
    const sample = fixture('placement.CRM_DEAL_DETAIL_TAB.post.json');
    for (const k of Object.keys(sample).filter((k) => !['DOMAIN', 'PROTOCOL', 'LANG', 'APP_SID'].includes(k))) assert.ok(k in f.fields, k);
    const script = await (await fetch(`${w.emu.baseUrl}/portal/shell.js`)).text();
    for (const cmd of ['getInitData', 'setInstallFinish', 'resizeWindow', 'setTitle', 'openPath', 'openApplication', 'refreshAuth']) assert.ok(script.includes(`'${cmd}'`), cmd);
  });
});

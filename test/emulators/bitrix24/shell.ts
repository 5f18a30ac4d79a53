/**
 * The portal shell: pages that show the app the way a portal user sees it, in iframes that receive the
 * Bitrix24 POST, and a parent-window listener speaking the frame protocol of BX24 / b24jssdk B24Frame.
 * Sources: docs/reference/bitrix24.md#installation (app page / installer POST fields), docs/reference/bitrix24.md#placements
 * (placement POST, PLACEMENT_OPTIONS JSON string); fixtures app-page.post.json, placement.CRM_DEAL_DETAIL_TAB.post.json; b24jssdk 2.2
 * dist/esm/loader-b24frame.mjs (the frame reads DOMAIN|PROTOCOL|APP_SID from `window.name`),
 * frame/message/controller.mjs (messages `command:params:callbackId:appSid`, answers `callbackId:json`),
 * frame/b24.mjs (getInitData fields), frame/message/commands.mjs (command names).
 */
import type express from 'express';
import type { Portal } from './portal.js';
import { SMART_INVOICE, QUOTE, COMPANY, CONTACT } from './model.js';

export interface FrameMessage { at: string; userId: number; command: string; params: unknown }

export interface ShellHooks {
  frameAuth(userId: number): Record<string, string>;
  finishInstall(): void;
  frameMessages: FrameMessage[];
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const PLACEMENT_ENTITY: Record<string, { entityTypeId: number; path: (id: number) => string }> = {
  CRM_SMART_INVOICE_DETAIL_TAB: { entityTypeId: SMART_INVOICE, path: (id) => `/crm/type/31/details/${id}/` },
  CRM_QUOTE_DETAIL_TAB: { entityTypeId: QUOTE, path: (id) => `/crm/quote/details/${id}/` },
  CRM_COMPANY_DETAIL_TAB: { entityTypeId: COMPANY, path: (id) => `/crm/company/details/${id}/` },
  CRM_CONTACT_DETAIL_TAB: { entityTypeId: CONTACT, path: (id) => `/crm/contact/details/${id}/` },
};

/** Links to the first few and the newest of a long list, with an ellipsis between. */
function firstAndLast(ids: number[], link: (id: number) => string): string {
  const sorted = [...ids].sort((a, b) => a - b);
  const shown = sorted.length <= 13 ? sorted : [...sorted.slice(0, 3), 0, ...sorted.slice(-10)];
  return shown.map((id) => (id === 0 ? '…' : link(id))).join(' ');
}

export function mountShell(app: express.Express, portal: Portal, hooks: ShellHooks): void {
  const userOf = (req: express.Request) => {
    const id = Number.parseInt(String(req.query.user ?? '1'), 10);
    return portal.users.has(id) ? id : 1;
  };

  /** The portal user's language (`?lang=de`; Bitrix24 puts the user's interface language into LANG). */
  const langOf = (req: express.Request) => (/^[a-z]{2}$/.test(String(req.query.lang ?? '')) ? String(req.query.lang) : 'en');

  /**
   * What Bitrix24 posts into an app frame: the handler URL with DOMAIN, PROTOCOL, LANG, APP_SID in the query, the
   * auth and placement fields in the body, and the frame's window.name `DOMAIN|PROTOCOL|APP_SID` that the SDK reads.
   */
  const frameSpec = (userId: number, url: string, placement: string, options: Record<string, unknown> | null, lang: string) => {
    const a = portal.app!;
    const auth = hooks.frameAuth(userId);
    const target = new URL(url);
    target.searchParams.set('DOMAIN', portal.domain);
    target.searchParams.set('PROTOCOL', '0');
    target.searchParams.set('LANG', lang);
    target.searchParams.set('APP_SID', a.appSid);
    const fields: Record<string, string> = {
      AUTH_ID: auth.AUTH_ID!, AUTH_EXPIRES: auth.AUTH_EXPIRES!, REFRESH_ID: auth.REFRESH_ID!, SERVER_ENDPOINT: portal.serverEndpoint,
      APPLICATION_TOKEN: a.applicationToken ?? '', APPLICATION_SCOPE: a.scopes.join(','), member_id: portal.memberId, status: 'L',
      PLACEMENT: placement,
      // List toolbars send no PLACEMENT_OPTIONS (docs/reference/bitrix24.md#placements: "the PLACEMENT_OPTIONS parameter is not passed").
      ...(options === null ? {} : { PLACEMENT_OPTIONS: JSON.stringify(options) }),
    };
    const init = { ...auth, LANG: lang, PLACEMENT: placement, PLACEMENT_OPTIONS: options ?? {}, INSTALL: !a.installed, IS_ADMIN: portal.user(userId).admin, userId };
    return { action: target.toString(), fields, name: `${portal.domain}|0|${a.appSid}`, init };
  };

  /** Hidden form + iframe: the POST Bitrix24 makes into the app frame. */
  const frame = (userId: number, url: string, placement: string, options: Record<string, unknown>, frameId: string, lang: string) => {
    const spec = frameSpec(userId, url, placement, options, lang);
    const inputs = Object.entries(spec.fields).map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('');
    return `<form id="${frameId}-form" method="post" target="${esc(spec.name)}" action="${esc(spec.action)}">${inputs}</form>
<iframe id="${frameId}" name="${esc(spec.name)}" class="app-frame" data-init="${esc(JSON.stringify(spec.init))}"></iframe>
<script>document.getElementById(${JSON.stringify(frameId + '-form')}).submit();</script>`;
  };

  const layout = (title: string, userId: number, body: string, lang = 'en') => `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:0;background:#eef2f4}header{background:#2fc6f6;color:#fff;padding:8px 16px}nav{padding:8px 16px;background:#eef}main{padding:16px}
.app-frame{display:block;width:100%;height:600px;border:0;background:#fff}
#slider{display:none;position:fixed;top:0;right:0;bottom:0;width:70%;background:#eef2f4;box-shadow:-4px 0 12px #0003;padding:8px;overflow:auto}
#slider iframe{width:100%;height:90%;border:0}#slider iframe.app-frame{height:600px}</style></head><body>
<header>Bitrix24 (emulated) — ${esc(portal.domain)} — <span id="user">${esc(portal.user(userId).name)} ${esc(portal.user(userId).lastName)}${portal.user(userId).admin ? ' (admin)' : ''}</span>
 — <span id="app-title">${esc(title)}</span></header>
<nav><a href="/portal?user=${userId}&lang=${lang}">Application</a> | <a href="/portal/list/company?user=${userId}&lang=${lang}">Companies</a> | <a href="/portal/list/contact?user=${userId}&lang=${lang}">Contacts</a> | Invoices: ${firstAndLast([...portal.items.get(SMART_INVOICE)!.keys()], (id) => `<a href="/portal/placement/CRM_SMART_INVOICE_DETAIL_TAB?id=${id}&user=${userId}&lang=${lang}">#${id}</a>`)}
 | Estimates: ${firstAndLast([...portal.items.get(QUOTE)!.keys()], (id) => `<a href="/portal/placement/CRM_QUOTE_DETAIL_TAB?id=${id}&user=${userId}">#${id}</a>`)}</nav>
<main>${body}</main><div id="slider"><button id="slider-close">Close</button><div id="slider-body"></div></div>
<script>window.__B24_USER=${userId};window.__B24_LANG=${JSON.stringify(lang)};</script><script src="/portal/shell.js"></script></body></html>`;

  app.get('/portal', (req, res) => {
    const userId = userOf(req);
    const a = portal.app;
    if (!a || !a.present) return void res.type('html').send(layout('No application', userId, '<p>No application is installed.</p>'));
    // Until installFinish non-admins see this (docs/reference/bitrix24.md#installation); admins get the installer.
    if (!a.installed && !portal.user(userId).admin) return void res.type('html').send(layout('Application', userId, '<p id="not-installed">The application is not fully installed yet</p>'));
    const url = a.installed ? a.handlerUrl : a.installUrl;
    res.type('html').send(layout('Application', userId, frame(userId, url, 'DEFAULT', {}, 'app-frame', langOf(req)), langOf(req)));
  });

  app.get('/portal/placement/:code', (req, res) => {
    const userId = userOf(req);
    const code = String(req.params.code).toUpperCase();
    const id = Number.parseInt(String(req.query.id ?? '0'), 10);
    const a = portal.app;
    const ent = PLACEMENT_ENTITY[code];
    const item = ent ? portal.items.get(ent.entityTypeId)!.get(id) : undefined;
    const card = item ? `<h2 id="card-title">${esc(String(item.data.title ?? item.data.name ?? `#${id}`))}</h2><p>Stage: <b id="card-stage">${esc(String(item.data.stageId ?? ''))}</b>, amount ${esc(String(item.data.opportunity ?? ''))} ${esc(String(item.data.currencyId ?? ''))}</p>` : `<p>Item #${id} not found</p>`;
    // Placements are not shown before installation finishes (docs/reference/bitrix24.md#placements).
    const tabs = a && a.present && a.installed ? portal.placements.filter((p) => p.placement === code) : [];
    const options = { ID: String(id), ...(ent ? { URI: `${ent.path(id)}?IFRAME=Y&IFRAME_TYPE=SIDE_SLIDER` } : {}) };
    const body = card + (tabs.length ? tabs.map((t, i) => `<h3 class="tab">${esc(t.title || t.placement)}</h3>${frame(userId, t.handler, code, options, `placement-frame-${i}`, langOf(req))}`).join('') : '<p id="no-tabs">No application tabs</p>');
    res.type('html').send(layout(code, userId, body, langOf(req)));
  });

  /**
   * A CRM list (companies or contacts) with the toolbar's application items: each placement bound to
   * CRM_COMPANY_LIST_TOOLBAR / CRM_CONTACT_LIST_TOOLBAR is a menu item above the list that opens its handler in a
   * slider. Source: docs/reference/bitrix24.md#placements (dropdown item above the list; the handler
   * gets the app-page fields and PLACEMENT, no PLACEMENT_OPTIONS).
   */
  app.get('/portal/list/:entity', (req, res) => {
    const userId = userOf(req);
    const entity = String(req.params.entity);
    const kinds: Record<string, { entityTypeId: number; code: string; title: string }> = {
      company: { entityTypeId: COMPANY, code: 'CRM_COMPANY_LIST_TOOLBAR', title: 'Companies' },
      contact: { entityTypeId: CONTACT, code: 'CRM_CONTACT_LIST_TOOLBAR', title: 'Contacts' },
    };
    const kind = kinds[entity];
    if (!kind) return void res.status(404).type('html').send(layout('Not found', userId, '<p>No such list</p>'));
    const a = portal.app;
    // Placements are not shown before installation finishes (docs/reference/bitrix24.md#placements).
    const items = a && a.present && a.installed ? portal.placements.filter((p) => p.placement === kind.code) : [];
    const toolbar = `<div id="list-toolbar">${items.map((p) => `<button type="button" class="toolbar-app" data-placement-id="${p.id}">${esc(p.title || p.placement)}</button>`).join(' ') || '<span id="no-apps">No applications</span>'}</div>`;
    const rows = [...portal.items.get(kind.entityTypeId)!.values()].slice(0, 50)
      .map((i) => `<li>${esc(String(i.data.title ?? [i.data.name, i.data.lastName].filter(Boolean).join(' ')))}</li>`).join('');
    res.type('html').send(layout(kind.title, userId, `<h2 id="list-title">${kind.title}</h2>${toolbar}<ul id="list-items">${rows}</ul>`, langOf(req)));
  });

  // Parent-window helpers the shell script calls.
  app.post('/portal/api/frame-auth', (req, res) => void res.json(hooks.frameAuth(userOf(req))));
  app.post('/portal/api/install-finish', (req, res) => {
    if (!portal.user(userOf(req)).admin) return void res.status(403).json({ error: 'ACCESS_DENIED' });
    hooks.finishInstall();
    res.json({ ok: true });
  });
  // The app opened in a slider (openApplication): the same POST into the handler, PLACEMENT DEFAULT, and the
  // openApplication parameters (without the bx24_ settings) as PLACEMENT_OPTIONS (bx24-open-application.html).
  app.post('/portal/api/app-slider', (req, res) => {
    const a = portal.app;
    if (!a || !a.installed) return void res.status(409).json({ error: 'NOT_INSTALLED' });
    const params = ((req.body ?? {}) as { params?: Record<string, unknown> }).params ?? {};
    const options = Object.fromEntries(Object.entries(params).filter(([k]) => !k.startsWith('bx24_')));
    res.json(frameSpec(userOf(req), a.handlerUrl, 'DEFAULT', options, langOf(req)));
  });
  // A list toolbar item clicked: its handler in a slider, with PLACEMENT = the toolbar's code and no PLACEMENT_OPTIONS.
  app.post('/portal/api/toolbar-slider', (req, res) => {
    const a = portal.app;
    const id = Number(((req.body ?? {}) as { id?: unknown }).id);
    const p = portal.placements.find((x) => x.id === id && /_LIST_TOOLBAR$/.test(x.placement));
    if (!a || !a.installed || !p) return void res.status(404).json({ error: 'PLACEMENT_NOT_FOUND' });
    res.json({ ...frameSpec(userOf(req), p.handler, p.placement, null, langOf(req)), title: p.title });
  });
  app.post('/portal/api/frame-log', (req, res) => {
    const b = (req.body ?? {}) as { command?: string; params?: unknown };
    hooks.frameMessages.push({ at: new Date().toISOString(), userId: userOf(req), command: String(b.command ?? ''), params: b.params });
    res.json({ ok: true });
  });

  app.get('/portal/shell.js', (_req, res) => {
    res.type('application/javascript').send(SHELL_JS);
  });
}

/**
 * Parent side of the frame protocol. Messages from the frame are strings `command:params:callbackId:appSid`
 * (params JSON, omitted when empty); answers are `callbackId:json` posted to the frame's origin.
 */
const SHELL_JS = `(() => {
  const user = window.__B24_USER;
  const appOptions = {}; const userOptions = {};
  window.__b24Messages = [];
  const lang = window.__B24_LANG || 'en';
  const post = (path, body) => fetch(path + '?user=' + user + '&lang=' + lang, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body || {}) }).then(r => r.json());
  const frames = () => Array.from(document.querySelectorAll('iframe[data-init]'));
  const slider = document.getElementById('slider');
  document.getElementById('slider-close').onclick = () => closeSlider();
  function openSlider(html) { document.getElementById('slider-body').innerHTML = html; slider.style.display = 'block'; }
  function closeSlider() { slider.style.display = 'none'; document.getElementById('slider-body').innerHTML = ''; }
  async function openAppSlider(params) {
    openSpec(await post('/portal/api/app-slider', { params }), (params && params.bx24_title) || '');
  }
  for (const b of document.querySelectorAll('.toolbar-app')) {
    b.addEventListener('click', async () => {
      const spec = await post('/portal/api/toolbar-slider', { id: Number(b.dataset.placementId) });
      openSpec(spec, spec.title || '');
    });
  }
  function openSpec(spec, titleText) {
    const body = document.getElementById('slider-body');
    body.innerHTML = '';
    const title = document.createElement('h2'); title.id = 'slider-title'; title.textContent = titleText; body.appendChild(title);
    const iframe = document.createElement('iframe'); iframe.id = 'slider-frame'; iframe.className = 'app-frame'; iframe.name = spec.name; iframe.dataset.init = JSON.stringify(spec.init);
    // A browsing-context name of its own (the SDK reads only DOMAIN|PROTOCOL|APP_SID from it), so the form fills the
    // slider and not the app frame behind it, which carries the same three parts.
    iframe.name = spec.name + '|slider';
    const form = document.createElement('form'); form.method = 'post'; form.target = iframe.name; form.action = spec.action;
    for (const [k, v] of Object.entries(spec.fields)) { const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; form.appendChild(i); }
    body.appendChild(iframe); body.appendChild(form); slider.style.display = 'block'; form.submit();
  }
  window.addEventListener('message', async (event) => {
    if (typeof event.data !== 'string') return;
    const frame = frames().find(f => f.contentWindow === event.source) || document.querySelector('#slider iframe');
    if (!frame) return;
    const parts = event.data.split(':');
    const command = parts[0];
    let raw = '', callback = '';
    if (parts.length >= 4) { raw = parts.slice(1, -2).join(':'); callback = parts[parts.length - 2]; }
    else if (parts.length === 3) { callback = parts[1]; }
    let params = raw; try { params = raw ? JSON.parse(raw) : {}; } catch (e) {}
    window.__b24Messages.push({ command, params });
    post('/portal/api/frame-log', { command, params }).catch(() => {});
    const init = JSON.parse(frame.dataset.init || '{}');
    const reply = (value) => { if (callback) event.source.postMessage(callback + ':' + JSON.stringify(value === undefined ? {} : value), event.origin); };
    switch (command) {
      case 'getInitData':
        return reply({ LANG: init.LANG || 'en', DOMAIN: init.DOMAIN, PROTOCOL: Number(init.PROTOCOL), PATH: '/marketplace/app/1/', AUTH_ID: init.AUTH_ID,
          AUTH_EXPIRES: init.AUTH_EXPIRES, REFRESH_ID: init.REFRESH_ID, MEMBER_ID: init.member_id, IS_ADMIN: init.IS_ADMIN, INSTALL: init.INSTALL,
          FIRST_RUN: false, PLACEMENT: init.PLACEMENT, PLACEMENT_OPTIONS: init.PLACEMENT_OPTIONS, APP_OPTIONS: appOptions, USER_OPTIONS: userOptions });
      case 'refreshAuth': {
        const a = await post('/portal/api/frame-auth');
        init.AUTH_ID = a.AUTH_ID; init.REFRESH_ID = a.REFRESH_ID; init.AUTH_EXPIRES = a.AUTH_EXPIRES; frame.dataset.init = JSON.stringify(init);
        return reply({ AUTH_ID: a.AUTH_ID, REFRESH_ID: a.REFRESH_ID, AUTH_EXPIRES: a.AUTH_EXPIRES });
      }
      case 'setInstallFinish': {
        const r = await post('/portal/api/install-finish');
        document.body.dataset.installFinished = r.ok ? 'Y' : 'N';
        reply({}); if (r.ok) setTimeout(() => location.reload(), 50); return;
      }
      case 'setInstall': return reply({});
      case 'resizeWindow': {
        // bx24-resize-window.html: numbers are pixels; fitWindow() sends the width "100%".
        const size = (v) => (typeof v === 'string' && /%$/.test(v) ? v : Number(v) + 'px');
        if (params && params.height) frame.style.height = size(params.height);
        if (params && params.width) frame.style.width = size(params.width);
        frame.dataset.resized = String(params && params.height);
        return reply({});
      }
      case 'setTitle': document.getElementById('app-title').textContent = params && params.title || ''; document.title = params && params.title || ''; return reply({});
      case 'setScroll': window.scrollTo(0, params && params.scroll || 0); return reply({});
      case 'reloadWindow': frame.src = frame.src; return reply({});
      case 'setAppOption': Object.assign(appOptions, params && params.options || {}); return reply({});
      case 'setUserOption': Object.assign(userOptions, params && params.options || {}); return reply({});
      case 'openApplication': await openAppSlider(params); return reply({});
      case 'openPath': {
        const path = String(params && params.path || '');
        const m = /\\/crm\\/type\\/31\\/details\\/(\\d+)/.exec(path) || /\\/crm\\/quote\\/(?:details|show)\\/(\\d+)/.exec(path);
        const href = m ? (path.includes('/quote/') ? '/portal/placement/CRM_QUOTE_DETAIL_TAB?id=' : '/portal/placement/CRM_SMART_INVOICE_DETAIL_TAB?id=') + m[1] + '&user=' + user : null;
        openSlider('<p id="slider-path">' + path.replace(/</g, '&lt;') + '</p>' + (href ? '<iframe src="' + href + '"></iframe>' : ''));
        return reply({ result: 'close' });
      }
      case 'closeApplication': closeSlider(); return reply({});
      case 'getInterface': return reply({ command: [], event: [] });
      default: return reply({});
    }
  });
})();`;

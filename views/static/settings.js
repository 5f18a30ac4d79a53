// @ts-check
// The settings slider: saving the settings (PUT /api/settings, the server checks every value against Xero's and
// Bitrix24's lists), "Refresh from Xero", the GL-code table (one page of 50 per request, search, bulk assignment to the
// selected or all filtered products), and "Send existing invoices" (preview, then send with its progress).
// The GL-code table is rendered by the server (views/settings/gl-table.ejs, escaped there, like a live region);
// everything else shown is set with textContent: nothing from the server becomes markup here.
import { api, messageOf, pageLang, show, t } from './live.js';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
const button = (id) => /** @type {HTMLButtonElement | null} */ (document.getElementById(id));
/**
 * @param {string} tag
 * @param {unknown} [text]
 * @param {string} [cls]
 */
const el = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
};

// ---- settings --------------------------------------------------------------------------------------------------
const form = /** @type {HTMLFormElement} */ ($('settings-form'));
/** @param {string} name */
const input = (name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name));
function collect() {
  /** @type {Record<string, string>} */
  const taxRateMap = {};
  for (const s of form.querySelectorAll('select[data-key]')) if (/** @type {HTMLSelectElement} */ (s).value) taxRateMap[/** @type {HTMLSelectElement} */ (s).dataset.key ?? ''] = /** @type {HTMLSelectElement} */ (s).value;
  /** @type {Record<string, string>} */
  const approveStages = {};
  /** @type {Record<string, Record<string, string>>} */
  const stageMap = {};
  for (const s of /** @type {NodeListOf<HTMLSelectElement>} */ (form.querySelectorAll('select[name^="approve:"]'))) if (s.value) approveStages[s.name.slice('approve:'.length)] = s.value;
  for (const s of /** @type {NodeListOf<HTMLSelectElement>} */ (form.querySelectorAll('select[name^="stage:"]'))) {
    if (!s.value) continue;
    const [, pipeline, status] = /^stage:(.+):([A-Z]+)$/.exec(s.name) || [];
    if (!pipeline || !status) continue;
    (stageMap[pipeline] = stageMap[pipeline] || {})[status] = s.value;
  }
  const poll = input('pollIntervalSeconds').value.trim();
  const tracking = input('trackingCategory').value ? { categoryId: input('trackingCategory').value, field: input('trackingField').value.trim() } : null;
  return {
    taxRateMap, approveStages, stageMap,
    defaultSalesAccount: input('defaultSalesAccount').value || null,
    documentNumbering: input('documentNumbering').value,
    reference: input('reference').value,
    brandingThemeId: input('brandingThemeId').value || null,
    tracking,
    pollIntervalSeconds: poll ? Number(poll) : null,
    voidOnDelete: input('voidOnDelete').checked,
    approveInXero: input('approveInXero').checked,
    quoteSync: input('quoteSync').checked,
    bitrixMasterForContacts: input('bitrixMasterForContacts').checked,
  };
}
const save = button('save-settings');
if (save) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    save.disabled = true;
    try {
      const answer = await api('/api/settings', 'PUT', collect());
      show(answer.retried ? t('js.settings.savedRetried', { count: answer.retried }) : t('js.settings.saved'), 'ok');
    } catch (err) {
      show(messageOf(err), 'err');
    } finally {
      save.disabled = false;
    }
  });
}
const refresh = button('refresh-org');
if (refresh) {
  refresh.addEventListener('click', async () => {
    refresh.disabled = true;
    try {
      await api('/api/org-data/refresh', 'POST');
      window.location.reload();
    } catch (err) {
      show(messageOf(err), 'err');
      refresh.disabled = false;
    }
  });
}

// ---- GL-code table ---------------------------------------------------------------------------------------------
const gl = { search: '', page: 0, total: 0 };
const rows = $('gl-rows');
/** The products of the table's page that are ticked. */
const picks = () => /** @type {HTMLInputElement[]} */ ([...rows.querySelectorAll('.gl-pick')]);
async function loadProducts() {
  const q = new URLSearchParams({ page: String(gl.page), lang: pageLang });
  if (gl.search) q.set('search', gl.search);
  try {
    const answer = await api(`/api/products/table?${q}`);
    gl.total = answer.total;
    // The connector's rendering of the table component (escaped there), as a live region is.
    rows.innerHTML = answer.html;
  } catch (err) {
    show(messageOf(err), 'err');
  }
}
$('gl-filter').addEventListener('submit', (e) => {
  e.preventDefault();
  gl.search = /** @type {HTMLInputElement} */ (/** @type {HTMLFormElement} */ (e.target).elements.namedItem('search')).value.trim();
  gl.page = 0;
  void loadProducts();
});
// The pager and "select all" come with each page of the table: bound by delegation.
rows.addEventListener('click', (e) => {
  const turn = /** @type {HTMLButtonElement | null} */ (e.target instanceof Element ? e.target.closest('button.gl-turn') : null);
  if (!turn || turn.disabled) return;
  gl.page = Math.max(0, Number(turn.dataset.page) || 0);
  void loadProducts();
});
rows.addEventListener('change', (e) => {
  const all = e.target;
  if (all instanceof HTMLInputElement && all.id === 'gl-all') for (const b of picks()) b.checked = all.checked;
});
/** @param {{ ids: number[] } | { filter: { search: string } }} body */
async function assign(body) {
  const account = /** @type {HTMLSelectElement} */ ($('gl-account')).value;
  try {
    const answer = await api('/api/products/account', 'POST', { accountCode: account, ...body });
    show(t('js.gl.assigned', { count: answer.updated, account }) + (answer.failed.length ? ` ${t('js.gl.failed', { count: answer.failed.length })}` : ''), answer.failed.length ? 'err' : 'ok');
    await loadProducts();
  } catch (err) {
    show(messageOf(err), 'err');
  }
}
const assignSelected = button('gl-assign-selected');
if (assignSelected) {
  assignSelected.addEventListener('click', () => {
    const ids = picks().filter((b) => b.checked).map((b) => Number(b.value));
    if (!ids.length) return show(t('js.gl.pickFirst'), 'err');
    void assign({ ids });
  });
  $('gl-assign-filtered').addEventListener('click', () => void assign({ filter: { search: gl.search } }));
}
void loadProducts();

// ---- send existing invoices ------------------------------------------------------------------------------------
/**
 * @typedef {{ count: number, example: string }} Blocked
 * @typedef {{ id: string, count: number, ready: number, dateRange: { from: string | null, to: string | null }, pipelines: { key: string, count: number }[], blocked: Blocked[] }} Preview
 * @typedef {{ total: number, sent: number, waiting: number, finished: boolean, blocked: Blocked[] }} Progress
 */
const result = $('backfill-result');
/** @type {string | null} */
let previewId = null;
/** @param {Preview} p */
function showPreview(p) {
  const list = el('ul', null, 'plain');
  list.append(el('li', t('js.backfill.count', { count: p.count, ready: p.ready })));
  if (p.dateRange.from) list.append(el('li', t('js.backfill.range', { from: p.dateRange.from, to: p.dateRange.to ?? '' })));
  if (p.pipelines.length) list.append(el('li', t('js.backfill.pipelines', { list: p.pipelines.map((x) => `${x.key}: ${x.count}`).join(', ') })));
  for (const b of p.blocked) list.append(el('li', t('js.backfill.blocked', { count: b.count, reason: b.example }), 'warn'));
  result.replaceChildren(list);
}
/** @param {Progress} p */
function showProgress(p) {
  const blocked = p.blocked.reduce((n, b) => n + b.count, 0);
  const bar = /** @type {HTMLProgressElement} */ (el('progress'));
  bar.max = p.total || 1;
  bar.value = p.sent + blocked;
  const text = el('p', t(p.finished ? 'js.backfill.finished' : 'js.backfill.progress', { sent: p.sent, total: p.total, waiting: p.waiting, blocked }));
  text.id = 'backfill-progress';
  result.replaceChildren(bar, text);
  if (!p.finished) setTimeout(pollProgress, 2000);
}
async function pollProgress() {
  try {
    const p = await api('/api/backfill');
    if (p) showProgress(p);
  } catch (err) {
    show(messageOf(err), 'err');
  }
}
const preview = button('backfill-preview');
const send = button('backfill-send');
if (preview && send) {
  preview.addEventListener('click', async () => {
    preview.disabled = true;
    result.replaceChildren(el('p', t('js.backfill.reading'), 'muted'));
    try {
      const p = await api('/api/backfill/preview', 'POST');
      previewId = p.id;
      showPreview(p);
      send.disabled = p.count === 0;
    } catch (err) {
      show(messageOf(err), 'err');
    } finally {
      preview.disabled = false;
    }
  });
  send.addEventListener('click', async () => {
    if (!previewId) return;
    send.disabled = true;
    try {
      showProgress(await api('/api/backfill', 'POST', { previewId }));
      previewId = null;
    } catch (err) {
      show(messageOf(err), 'err');
    }
  });
}
void pollProgress();

// The settings slider: saving the settings (PUT /api/settings, the server checks every value against Xero's and
// Bitrix24's lists), "Refresh from Xero", the GL-code table (one page of 50 per request, search, bulk assignment to the
// selected or all filtered products), and "Send existing invoices" (preview, then send with its progress).
// Everything shown is set with textContent: nothing from the server becomes markup.
(() => {
  const live = window.connectorLive;
  const t = live.t;
  const data = JSON.parse(document.getElementById('settings-data').dataset.json);
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };

  // ---- settings --------------------------------------------------------------------------------------------------
  const form = $('settings-form');
  function collect() {
    const f = form.elements;
    const taxRateMap = {};
    for (const s of form.querySelectorAll('select[data-key]')) if (s.value) taxRateMap[s.dataset.key] = s.value;
    const approveStages = {};
    const stageMap = {};
    for (const s of form.querySelectorAll('select[name^="approve:"]')) if (s.value) approveStages[s.name.slice('approve:'.length)] = s.value;
    for (const s of form.querySelectorAll('select[name^="stage:"]')) {
      if (!s.value) continue;
      const [, pipeline, status] = /^stage:(.+):([A-Z]+)$/.exec(s.name) || [];
      if (!pipeline) continue;
      (stageMap[pipeline] = stageMap[pipeline] || {})[status] = s.value;
    }
    const poll = f.pollIntervalSeconds.value.trim();
    const tracking = f.trackingCategory.value ? { categoryId: f.trackingCategory.value, field: f.trackingField.value.trim() } : null;
    return {
      taxRateMap, approveStages, stageMap,
      defaultSalesAccount: f.defaultSalesAccount.value || null,
      documentNumbering: f.documentNumbering.value,
      reference: f.reference.value,
      brandingThemeId: f.brandingThemeId.value || null,
      tracking,
      pollIntervalSeconds: poll ? Number(poll) : null,
      voidOnDelete: f.voidOnDelete.checked,
      approveInXero: f.approveInXero.checked,
      quoteSync: f.quoteSync.checked,
      bitrixMasterForContacts: f.bitrixMasterForContacts.checked,
    };
  }
  if ($('save-settings')) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      $('save-settings').disabled = true;
      try {
        const answer = await live.api('/api/settings', 'PUT', collect());
        live.show(answer.retried ? t('js.settings.savedRetried', { count: answer.retried }) : t('js.settings.saved'), 'ok');
      } catch (err) {
        live.show(err.message, 'err');
      } finally {
        $('save-settings').disabled = false;
      }
    });
  }
  if ($('refresh-org')) {
    $('refresh-org').addEventListener('click', async () => {
      $('refresh-org').disabled = true;
      try {
        await live.api('/api/org-data/refresh', 'POST');
        window.location.reload();
      } catch (err) {
        live.show(err.message, 'err');
        $('refresh-org').disabled = false;
      }
    });
  }

  // ---- GL-code table ---------------------------------------------------------------------------------------------
  const gl = { search: '', page: 0, total: 0, pageSize: 50 };
  const tbody = $('gl-table').querySelector('tbody');
  async function loadProducts() {
    const q = new URLSearchParams({ page: String(gl.page) });
    if (gl.search) q.set('search', gl.search);
    try {
      const answer = await live.api(`/api/products?${q}`);
      gl.total = answer.total;
      gl.pageSize = answer.pageSize;
      tbody.replaceChildren(...answer.products.map(row));
      if (!answer.products.length) {
        const tr = el('tr');
        const td = el('td', t('js.gl.none'), 'muted');
        td.colSpan = data.isAdmin ? 4 : 3;
        tr.append(td);
        tbody.append(tr);
      }
      const pages = Math.max(1, Math.ceil(gl.total / gl.pageSize));
      $('gl-page').textContent = t('js.gl.page', { page: gl.page + 1, pages, count: gl.total });
      $('gl-prev').disabled = gl.page === 0;
      $('gl-next').disabled = gl.page + 1 >= pages;
      if ($('gl-all')) $('gl-all').checked = false;
    } catch (err) {
      live.show(err.message, 'err');
    }
  }
  function row(p) {
    const tr = el('tr');
    tr.dataset.id = String(p.id);
    if (data.isAdmin) {
      const td = el('td');
      const box = el('input');
      box.type = 'checkbox';
      box.className = 'gl-pick';
      box.value = String(p.id);
      box.setAttribute('aria-label', t('js.gl.select', { name: p.name }));
      td.append(box);
      tr.append(td);
    }
    tr.append(el('td', p.name));
    tr.append(el('td', p.accountCode ? `${p.accountCode}${p.accountName ? ` ${p.accountName}` : ''}` : t('js.gl.noAccount'), p.accountCode ? '' : 'muted'));
    tr.append(el('td', p.xeroItem ? t('js.gl.item', { code: p.xeroItem.code, account: p.xeroItem.salesAccountCode || '—' }) : '', 'muted'));
    return tr;
  }
  $('gl-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    gl.search = e.target.elements.search.value.trim();
    gl.page = 0;
    void loadProducts();
  });
  $('gl-prev').addEventListener('click', () => { gl.page = Math.max(0, gl.page - 1); void loadProducts(); });
  $('gl-next').addEventListener('click', () => { gl.page += 1; void loadProducts(); });
  if ($('gl-all')) {
    $('gl-all').addEventListener('change', (e) => {
      for (const b of tbody.querySelectorAll('.gl-pick')) b.checked = e.target.checked;
    });
  }
  async function assign(body, count) {
    const account = $('gl-account').value;
    try {
      const answer = await live.api('/api/products/account', 'POST', { accountCode: account, ...body });
      live.show(t('js.gl.assigned', { count: answer.updated, account }) + (answer.failed.length ? ` ${t('js.gl.failed', { count: answer.failed.length })}` : ''), answer.failed.length ? 'err' : 'ok');
      await loadProducts();
    } catch (err) {
      live.show(err.message, 'err');
    }
    void count;
  }
  if ($('gl-assign-selected')) {
    $('gl-assign-selected').addEventListener('click', () => {
      const ids = [...tbody.querySelectorAll('.gl-pick:checked')].map((b) => Number(b.value));
      if (!ids.length) return live.show(t('js.gl.pickFirst'), 'err');
      void assign({ ids }, ids.length);
    });
    $('gl-assign-filtered').addEventListener('click', () => void assign({ filter: { search: gl.search } }, gl.total));
  }
  void loadProducts();

  // ---- send existing invoices ------------------------------------------------------------------------------------
  const result = $('backfill-result');
  let previewId = null;
  function showPreview(p) {
    const list = el('ul', null, 'plain');
    list.append(el('li', t('js.backfill.count', { count: p.count, ready: p.ready })));
    if (p.dateRange.from) list.append(el('li', t('js.backfill.range', { from: p.dateRange.from, to: p.dateRange.to })));
    if (p.pipelines.length) list.append(el('li', t('js.backfill.pipelines', { list: p.pipelines.map((x) => `${x.key}: ${x.count}`).join(', ') })));
    for (const b of p.blocked) list.append(el('li', t('js.backfill.blocked', { count: b.count, reason: b.example }), 'warn'));
    result.replaceChildren(list);
  }
  function showProgress(p) {
    const bar = el('progress');
    bar.max = p.total || 1;
    bar.value = p.sent + p.blocked.reduce((n, b) => n + b.count, 0);
    const text = el('p', t(p.finished ? 'js.backfill.finished' : 'js.backfill.progress', { sent: p.sent, total: p.total, waiting: p.waiting, blocked: p.blocked.reduce((n, b) => n + b.count, 0) }));
    text.id = 'backfill-progress';
    result.replaceChildren(bar, text);
    if (!p.finished) setTimeout(pollProgress, 2000);
  }
  async function pollProgress() {
    try {
      const p = await live.api('/api/backfill');
      if (p) showProgress(p);
    } catch (err) {
      live.show(err.message, 'err');
    }
  }
  if ($('backfill-preview')) {
    $('backfill-preview').addEventListener('click', async () => {
      $('backfill-preview').disabled = true;
      result.replaceChildren(el('p', t('js.backfill.reading'), 'muted'));
      try {
        const p = await live.api('/api/backfill/preview', 'POST');
        previewId = p.id;
        showPreview(p);
        $('backfill-send').disabled = p.count === 0;
      } catch (err) {
        live.show(err.message, 'err');
      } finally {
        $('backfill-preview').disabled = false;
      }
    });
    $('backfill-send').addEventListener('click', async () => {
      if (!previewId) return;
      $('backfill-send').disabled = true;
      try {
        showProgress(await live.api('/api/backfill', 'POST', { previewId }));
        previewId = null;
      } catch (err) {
        live.show(err.message, 'err');
      }
    });
  }
  void pollProgress();
})();

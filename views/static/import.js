// The "Import from Xero" slider: preview, start, cancel and the CSV of failures; the run region comes from the live
// stream (connectorLive), so progress and the summary appear without reloading.
(() => {
  const live = window.connectorLive;
  const form = document.getElementById('import-form');
  if (form) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const what = ['companies', 'contacts', 'products'].filter((n) => form.elements[n] && form.elements[n].checked);
      if (!what.length) return live.show(live.t('js.import.chooseSomething'), 'alert');
      try {
        const { runId } = await live.api('/api/import/preview', 'POST', { what, includeArchived: form.elements.includeArchived.checked });
        live.set({ run: String(runId) });
      } catch (err) { live.show(err.message, 'alert'); }
    });
  }
  document.addEventListener('click', async (e) => {
    const button = e.target.closest('#import-start, #import-cancel, #import-csv');
    if (!button) return;
    const run = button.dataset.run;
    try {
      if (button.id === 'import-start') await live.api(`/api/import/${run}/start`, 'POST', {});
      if (button.id === 'import-cancel') await live.api(`/api/import/${run}/cancel`, 'POST', {});
      if (button.id === 'import-csv') await download(run);
    } catch (err) { live.show(err.message, 'alert'); }
  });
  async function download(run) {
    const root = document.getElementById('app');
    const res = await fetch(`${root.dataset.base || ''}/api/import/${run}/failures.csv`, { headers: { 'X-Connector-Session': root.dataset.session } });
    if (!res.ok) throw new Error(live.t('js.error.status', { status: res.status }));
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = `import-${run}-failures.csv`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
})();

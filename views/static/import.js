// @ts-check
// The "Import from Xero" slider: preview, start, cancel and the CSV of failures; the run region comes from the live
// stream (live.js), so progress and the summary appear without reloading.
import { targetOf } from './frame.js';
import { api, download, messageOf, set, show, t } from './live.js';

const form = /** @type {HTMLFormElement | null} */ (document.getElementById('import-form'));
if (form) {
  /** @param {string} name */
  const box = (name) => /** @type {HTMLInputElement | null} */ (form.elements.namedItem(name));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const what = ['companies', 'contacts', 'products'].filter((n) => box(n)?.checked);
    if (!what.length) return show(t('js.import.chooseSomething'), 'alert');
    try {
      const { runId } = await api('/api/import/preview', 'POST', { what, includeArchived: Boolean(box('includeArchived')?.checked) });
      set({ run: String(runId) });
    } catch (err) { show(messageOf(err), 'alert'); }
  });
}
document.addEventListener('click', async (e) => {
  const button = /** @type {HTMLElement | null} */ (targetOf(e)?.closest('#import-start, #import-cancel, #import-csv') ?? null);
  if (!button) return;
  const run = button.dataset.run;
  try {
    if (button.id === 'import-start') await api(`/api/import/${run}/start`, 'POST', {});
    if (button.id === 'import-cancel') await api(`/api/import/${run}/cancel`, 'POST', {});
    if (button.id === 'import-csv') await download(`/api/import/${run}/failures.csv`, `import-${run}-failures.csv`);
  } catch (err) { show(messageOf(err), 'alert'); }
});

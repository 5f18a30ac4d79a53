// @ts-check
// Dashboard actions: Connect / Reconnect / Disconnect Xero, Retry and Dismiss for documents that need attention,
// the activity log's filters and pages, the charts' range (the settings live in their own slider, settings.js). Everything on the page that
// changes arrives through the live stream (live.js); buttons inside live regions are handled by delegation.
import { targetOf } from './frame.js';
import { api, messageOf, on, pageLang, params, set, show, t } from './live.js';

/** @param {HTMLButtonElement} button */
async function connect(button) {
  button.disabled = true;
  try {
    // The page's language goes along, so the Xero window speaks it.
    const { startUrl } = await api('/api/xero/connect', 'POST', { lang: pageLang });
    // Xero's sign-in page cannot be framed: it opens in its own window, which first visits the connector
    // (the cookie there binds the consent to this browser) and asks for a confirmation at the end.
    const popup = window.open(startUrl, 'xero-connect', 'width=760,height=780');
    if (!popup) {
      show(t('js.connect.popupBlocked'), 'err');
      button.disabled = false;
      return;
    }
    show(t('js.connect.waiting'));
    const started = Date.now();
    const timer = setInterval(async () => {
      try {
        const status = await api('/api/status');
        if (status.connection && status.connection.state === 'active') {
          clearInterval(timer);
          show(t('js.connect.done', { name: status.connection.tenantName }), 'ok');
        } else if (Date.now() - started > 10 * 60_000) {
          clearInterval(timer);
          show(t('js.connect.timeout'), 'err');
          button.disabled = false;
        }
      } catch (err) {
        clearInterval(timer);
        show(messageOf(err), 'err');
        button.disabled = false;
      }
    }, 1500);
  } catch (err) {
    show(messageOf(err), 'err');
    button.disabled = false;
  }
}

/**
 * @param {HTMLButtonElement} button
 * @param {string} path
 * @param {string} doneText
 */
async function jobAction(button, path, doneText) {
  button.disabled = true;
  try {
    await api(path, 'POST', { ids: [Number(button.dataset.job)] });
    const row = button.closest('tr');
    const reason = row && row.querySelector('.reason');
    if (reason) reason.textContent = doneText;
  } catch (err) {
    show(messageOf(err), 'err');
    button.disabled = false;
  }
}

document.addEventListener('click', async (event) => {
  const button = targetOf(event)?.closest('button');
  if (!button || button.disabled) return;
  if (button.id === 'connect') return connect(button);
  if (button.classList.contains('retry')) return jobAction(button, '/api/jobs/retry', t('js.retry.queued'));
  if (button.classList.contains('dismiss')) return jobAction(button, '/api/jobs/dismiss', t('js.dismiss.done'));
  if (button.classList.contains('page')) return set({ ...params(), page: button.dataset.page });
  if (button.classList.contains('range')) return set({ ...params(), range: button.dataset.range });
  if (button.id === 'disconnect') {
    if (!confirm(t('js.disconnect.confirm'))) return;
    button.disabled = true;
    try {
      await api('/api/xero/disconnect', 'POST');
      show(t('js.disconnect.done'), 'ok');
    } catch (err) {
      show(messageOf(err), 'err');
      button.disabled = false;
    }
  }
});

const filters = /** @type {HTMLFormElement} */ (document.getElementById('log-filters'));
filters.addEventListener('submit', (event) => {
  event.preventDefault();
  const f = new FormData(filters);
  set({ ...params(), doc: f.get('doc'), kind: f.get('kind'), level: f.get('level'), from: f.get('from'), to: f.get('to'), page: 1 });
});
filters.addEventListener('reset', () => setTimeout(() => set({ range: params().range }), 0));
on('error', (event) => show(event.message ?? '', 'err'));
on('problem', (event) => show(event.message ?? '', 'err'));

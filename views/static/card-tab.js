// @ts-check
// The card tab's actions: "Send to Xero" / "Sync now" (a push through the outbox) and the PDF, read from Xero
// through the connector on demand. The tab's content follows the live stream (live.js).
import { targetOf } from './frame.js';
import { api, download, messageOf, on, root, show, t } from './live.js';

/** @param {HTMLButtonElement} button */
async function pdf(button) {
  button.disabled = true;
  try {
    await download(`/api/documents/${encodeURIComponent(button.dataset.type ?? '')}/${encodeURIComponent(button.dataset.id ?? '')}/pdf`, button.dataset.name || 'invoice.pdf');
  } catch (err) {
    show(messageOf(err), 'err');
  } finally {
    button.disabled = false;
  }
}

document.addEventListener('click', async (event) => {
  const button = targetOf(event)?.closest('button');
  if (!button || button.disabled) return;
  if (button.id === 'pdf-link') return pdf(button);
  if (button.id === 'push') {
    button.disabled = true;
    try {
      await api('/api/documents/push', 'POST', { type: button.dataset.type, id: button.dataset.id });
      show(t('js.push.queued'), 'ok');
    } catch (err) {
      show(messageOf(err), 'err');
      button.disabled = false;
    }
  }
});
on('summary', (event) => {
  if (event.data) root.dataset.status = event.data.status;
});
on('error', (event) => show(event.message ?? '', 'err'));

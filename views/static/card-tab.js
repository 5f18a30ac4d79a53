// The card tab's actions: "Send to Xero" / "Sync now" (a push through the outbox) and the PDF, read from Xero
// through the connector on demand. The tab's content follows the live stream (live.js).
(() => {
  const live = window.connectorLive;
  const { t, api } = live;
  const root = document.getElementById('app');
  const { show } = live;

  async function pdf(button) {
    button.disabled = true;
    try {
      const res = await fetch(`${root.dataset.base}/api/documents/${encodeURIComponent(button.dataset.type)}/${encodeURIComponent(button.dataset.id)}/pdf`, {
        headers: { 'X-Connector-Session': root.dataset.session },
      });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw new Error((body.error && body.error.message) || t('js.error.status', { status: res.status }));
      }
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = button.dataset.name || 'invoice.pdf';
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      show(err.message, 'err');
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener('click', async (event) => {
    const button = event.target.closest('button');
    if (!button || button.disabled) return;
    if (button.id === 'pdf-link') return pdf(button);
    if (button.id === 'push') {
      button.disabled = true;
      try {
        await api('/api/documents/push', 'POST', { type: button.dataset.type, id: button.dataset.id });
        show(t('js.push.queued'), 'ok');
      } catch (err) {
        show(err.message, 'err');
        button.disabled = false;
      }
    }
  });
  live.on('summary', (event) => {
    if (event.data) root.dataset.status = event.data.status;
  });
  live.on('error', (event) => show(event.message, 'err'));
})();

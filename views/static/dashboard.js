// Dashboard actions. Calls go to the connector's page API with the signed session of this page.
(() => {
  const root = document.getElementById('app');
  const session = root.dataset.session;
  const base = root.dataset.base;
  const notice = document.getElementById('notice');

  function show(text, kind) {
    notice.hidden = false;
    notice.className = `alert ${kind || 'info'}`;
    notice.textContent = text;
    notice.scrollIntoView({ block: 'nearest' });
  }

  async function api(path, method) {
    const res = await fetch(`${base}${path}`, { method: method || 'GET', headers: { 'X-Connector-Session': session } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((body.error && body.error.message) || `The connector answered ${res.status}.`);
    return body;
  }

  const connect = document.getElementById('connect');
  if (connect) {
    connect.addEventListener('click', async () => {
      connect.disabled = true;
      try {
        const { startUrl } = await api('/api/xero/connect', 'POST');
        // Xero's sign-in page cannot be framed: it opens in its own window, which first visits the connector
        // (the cookie there binds the consent to this browser) and asks for a confirmation at the end.
        const popup = window.open(startUrl, 'xero-connect', 'width=760,height=780');
        if (!popup) {
          show('Your browser blocked the Xero window. Allow pop-ups for this page and click again.', 'err');
          connect.disabled = false;
          return;
        }
        show('Waiting for Xero… sign in and confirm the organisation in the Xero window.');
        const started = Date.now();
        const timer = setInterval(async () => {
          try {
            const status = await api('/api/status');
            if (status.connection && status.connection.state === 'active') {
              clearInterval(timer);
              show(`Connected to ${status.connection.tenantName}.`, 'ok');
              setTimeout(() => location.reload(), 800);
            } else if (Date.now() - started > 10 * 60_000) {
              clearInterval(timer);
              show('Xero did not finish the connection. Click "Connect Xero" to try again.', 'err');
              connect.disabled = false;
            }
          } catch (err) {
            clearInterval(timer);
            show(err.message, 'err');
            connect.disabled = false;
          }
        }, 1500);
      } catch (err) {
        show(err.message, 'err');
        connect.disabled = false;
      }
    });
  }

  for (const button of document.querySelectorAll('button.retry')) {
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const res = await fetch(`${base}/api/jobs/retry`, {
          method: 'POST',
          headers: { 'X-Connector-Session': session, 'content-type': 'application/json' },
          body: JSON.stringify({ ids: [Number(button.dataset.job)] }),
        });
        const body = await res.json().catch(() => ({}));
        if (!res.ok) throw new Error((body.error && body.error.message) || `The connector answered ${res.status}.`);
        button.closest('tr').querySelector('td:nth-child(2)').textContent = 'Queued again; it goes out with the next batch.';
      } catch (err) {
        show(err.message, 'err');
        button.disabled = false;
      }
    });
  }

  const form = document.getElementById('settings-form');
  if (form && document.getElementById('save-settings')) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const taxRateMap = {};
      const bad = [];
      for (const line of form.taxRateMap.value.split('\n').map((l) => l.trim()).filter(Boolean)) {
        const m = /^([0-9]+(?:[.,][0-9]+)?|none)\s*%?\s*=\s*([A-Za-z0-9_]+)$/i.exec(line);
        if (m) taxRateMap[m[1].toLowerCase().replace(',', '.')] = m[2].toUpperCase();
        else bad.push(line);
      }
      if (bad.length) {
        show(`These VAT lines are not "rate = TAXTYPE": ${bad.join('; ')}`, 'err');
        return;
      }
      const poll = form.pollIntervalSeconds.value.trim();
      const body = {
        defaultSalesAccount: form.defaultSalesAccount.value.trim() || null,
        taxRateMap,
        voidOnDelete: form.voidOnDelete.checked,
        approveInXero: form.approveInXero.checked,
        pollIntervalSeconds: poll ? Number(poll) : null,
      };
      try {
        const res = await fetch(`${base}/api/settings`, {
          method: 'PUT',
          headers: { 'X-Connector-Session': session, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        const answer = await res.json().catch(() => ({}));
        if (!res.ok) throw new Error((answer.error && answer.error.message) || `The connector answered ${res.status}.`);
        show(answer.retried ? `Settings saved. ${answer.retried} waiting document(s) will be sent again.` : 'Settings saved.', 'ok');
      } catch (err) {
        show(err.message, 'err');
      }
    });
  }

  const disconnect = document.getElementById('disconnect');
  if (disconnect) {
    disconnect.addEventListener('click', async () => {
      if (!confirm('Disconnect Xero? Nothing is deleted; sync stops until Xero is connected again.')) return;
      disconnect.disabled = true;
      try {
        await api('/api/xero/disconnect', 'POST');
        show('Xero was disconnected.', 'ok');
        setTimeout(() => location.reload(), 800);
      } catch (err) {
        show(err.message, 'err');
        disconnect.disabled = false;
      }
    });
  }
})();

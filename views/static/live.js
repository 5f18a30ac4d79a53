// The live stream of a page: one server-sent-events stream per page (GET /api/live/:view) that pushes the page's
// regions as server-rendered, escaped HTML. An element with data-live="name" is replaced by the region "name";
// a region's JSON data (charts) goes to listeners. The stream is read with fetch so it carries the page session
// header (EventSource cannot send headers); it reconnects with back-off.
// Pages use window.connectorLive: { params, set(params), on(region, fn), api(path, method, body), t(key, vars), show(text, kind) }.
(() => {
  const root = document.getElementById('app');
  const pageData = JSON.parse(document.getElementById('page-data').dataset.json || '{}');
  const messages = pageData.messages || {};
  const session = root.dataset.session;
  const base = root.dataset.base || '';
  const listeners = new Map();
  let params = (pageData.live && pageData.live.params) || {};
  let controller = null;
  let retry = 1000;
  let closedForGood = false;

  function t(key, vars = {}) {
    let m = messages[key];
    if (m === undefined) return key;
    if (typeof m !== 'string') m = m[new Intl.PluralRules(pageData.lang).select(Number(vars.count || 0))] || m.other || key;
    return m.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
  }

  async function api(path, method = 'GET', body) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { 'X-Connector-Session': session, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((answer.error && answer.error.message) || t('js.error.status', { status: res.status }));
    return answer;
  }

  function apply(event) {
    // The connector closed this stream for good (too many open): say why and do not reconnect.
    if (event.type === 'closed') {
      closedForGood = true;
      document.documentElement.dataset.live = 'closed';
      show(event.message, 'info');
    }
    if (event.type === 'region') {
      const el = document.querySelector(`[data-live="${CSS.escape(event.name)}"]`);
      if (el && typeof event.html === 'string' && el.innerHTML !== event.html) el.innerHTML = event.html;
    }
    for (const fn of listeners.get(event.name) || []) fn(event);
    for (const fn of listeners.get('*') || []) fn(event);
    if (window.connectorFrame) window.connectorFrame.fit();
  }

  function parse(chunk) {
    // One SSE message: lines "event: …" and "data: …"; the data is JSON.
    let type = 'message';
    const data = [];
    for (const line of chunk.split('\n')) {
      if (line.startsWith('event:')) type = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    if (!data.length) return;
    try {
      apply({ type, ...JSON.parse(data.join('\n')) });
    } catch (err) {
      console.warn('live: unreadable message', err);
    }
  }

  async function connect() {
    if (!pageData.live || !session) return;
    controller = new AbortController();
    const mine = controller;
    // The page's language goes along, so the regions come back in the words the page was rendered in.
    const query = new URLSearchParams(Object.entries({ ...params, lang: pageData.lang }).filter(([, v]) => v !== '' && v !== null && v !== undefined)).toString();
    try {
      const res = await fetch(`${base}/api/live/${encodeURIComponent(pageData.live.view)}${query ? `?${query}` : ''}`, {
        headers: { 'X-Connector-Session': session, Accept: 'text/event-stream' },
        signal: mine.signal,
      });
      if (!res.ok || !res.body) {
        const answer = await res.json().catch(() => ({}));
        document.documentElement.dataset.live = 'error';
        apply({ type: 'error', name: 'error', message: (answer.error && answer.error.message) || t('js.error.status', { status: res.status }) });
        if (res.status === 401 || res.status === 403 || res.status === 400) return;
        throw new Error(String(res.status));
      }
      document.documentElement.dataset.live = 'open';
      retry = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          parse(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (err) {
      if (mine.signal.aborted) return;
    }
    if (mine !== controller || closedForGood) return;
    document.documentElement.dataset.live = 'reconnecting';
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 30000);
  }

  /** Shows a message in the page's #notice (kind: 'ok' | 'err' | 'info'). */
  function show(text, kind) {
    const notice = document.getElementById('notice');
    if (!notice) return;
    notice.hidden = false;
    notice.className = `alert ${kind || 'info'}`;
    notice.textContent = text;
    if (window.connectorFrame) window.connectorFrame.fit();
  }

  window.connectorLive = {
    show,
    get params() {
      return { ...params };
    },
    /** New parameters (e.g. the log's filters): the stream restarts and sends every region again. */
    set(next) {
      params = { ...next };
      closedForGood = false;
      if (controller) controller.abort();
      controller = null;
      connect();
    },
    on(name, fn) {
      if (!listeners.has(name)) listeners.set(name, []);
      listeners.get(name).push(fn);
    },
    api,
    t,
  };
  window.addEventListener('pagehide', () => controller && controller.abort());
  connect();
})();

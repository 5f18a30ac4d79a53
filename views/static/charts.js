// @ts-check
// The dashboard's charts (Chart.js, served by the connector from node_modules): documents synced and errors per hour
// (24 h) or per day (30 d), and Xero calls per hour against the daily limit spread over the hours. Data comes from
// the page's #charts-data attribute first, then from the live stream's "charts" region.
// `charts` ({ docs, calls }, or null without Chart.js) is exported for whoever needs the drawn data (tests read it).
import { on, pageLang, t } from './live.js';

/**
 * @typedef {{ range: '24h' | '30d', documents: { buckets: number[], synced: number[], errors: number[] },
 *   calls: { buckets: number[], calls: number[], hourlyShareOfDayLimit: number } }} ChartData
 * @typedef {import('chart.js').Chart<'bar' | 'line', number[], string>} BarChart
 */

/** @returns {{ docs: BarChart, calls: BarChart } | null} */
function start() {
  const Chart = window.Chart;
  if (!Chart) return null;
  // Colours are light-dark() tokens: resolve them through a probe element to the colour in force.
  const probe = document.createElement('span');
  probe.hidden = true;
  document.body.appendChild(probe);
  /** @param {string} name */
  const css = (name) => {
    probe.style.color = `var(${name})`;
    return getComputedStyle(probe).color;
  };
  const hour = new Intl.DateTimeFormat(pageLang, { hour: '2-digit', minute: '2-digit', timeZone: 'UTC' });
  const day = new Intl.DateTimeFormat(pageLang, { day: 'numeric', month: 'short', timeZone: 'UTC' });
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = css('--ui-color-base-2');
  Chart.defaults.animation = false;
  /** @type {import('chart.js').ChartOptions<'bar'>} */
  const common = {
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: 'index', intersect: false },
    plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
    scales: { x: { grid: { display: false } }, y: { beginAtZero: true, ticks: { precision: 0 }, grid: { color: css('--x-chart-grid') } } },
  };
  /** @param {string} id */
  const canvas = (id) => /** @type {HTMLCanvasElement} */ (document.getElementById(id));
  const docs = /** @type {BarChart} */ (new Chart(canvas('docs-chart'), {
    type: 'bar',
    data: { labels: [], datasets: [
      { label: t('js.chart.synced'), data: [], backgroundColor: css('--x-chart-1'), borderRadius: 3 },
      { label: t('js.chart.errors'), data: [], backgroundColor: css('--x-chart-2'), borderRadius: 3 },
    ] },
    options: { ...common, plugins: { ...common.plugins, title: { display: true, text: t('js.chart.documents24h') } } },
  }));
  const calls = /** @type {BarChart} */ (/** @type {unknown} */ (new Chart(canvas('calls-chart'), {
    type: 'bar',
    data: { labels: [], datasets: [
      { label: t('js.chart.calls'), data: [], backgroundColor: css('--x-chart-1'), borderRadius: 3, order: 2 },
      // A line over the bars: Chart.js mixes dataset types in one chart.
      /** @type {any} */ ({ label: t('js.chart.limit'), data: [], type: 'line', borderColor: css('--x-chart-3'), borderDash: [6, 4], pointRadius: 0, order: 1 }),
    ] },
    options: { ...common, plugins: { ...common.plugins, title: { display: true, text: t('js.chart.callsTitle') } } },
  })));

  /** @param {ChartData | null} data */
  function draw(data) {
    if (!data) return;
    const fmt = data.range === '30d' ? day : hour;
    docs.data.labels = data.documents.buckets.map((b) => fmt.format(b));
    docs.data.datasets[0].data = data.documents.synced;
    docs.data.datasets[1].data = data.documents.errors;
    const title = docs.options.plugins?.title;
    if (title) title.text = t(data.range === '30d' ? 'js.chart.documents30d' : 'js.chart.documents24h');
    docs.update();
    calls.data.labels = data.calls.buckets.map((b) => hour.format(b));
    calls.data.datasets[0].data = data.calls.calls;
    calls.data.datasets[1].data = data.calls.buckets.map(() => data.calls.hourlyShareOfDayLimit);
    calls.update();
    const root = /** @type {HTMLElement} */ (document.getElementById('charts'));
    root.dataset.drawn = String(data.documents.synced.reduce((a, b) => a + b, 0) + data.documents.errors.reduce((a, b) => a + b, 0));
    root.dataset.range = data.range;
    for (const b of root.querySelectorAll('button.range')) b.setAttribute('aria-pressed', String(/** @type {HTMLElement} */ (b).dataset.range === data.range));
  }

  draw(JSON.parse(document.getElementById('charts-data')?.dataset.json || 'null'));
  on('charts', (event) => draw(event.data));
  return { docs, calls };
}

export const charts = start();

// The dashboard's charts of the last 5 minutes: requests by cache outcome, status classes, the latency
// heat map, cache occupancy and the busiest backends. Each draws what the points carry and nothing else.
import { bytes, count, rate, seconds, sum } from './format.js';
import { BACKEND_COLORS, chart, colors, mix, parseColor, quantiles } from './plots.js';
import { $, state, WINDOW_SECONDS } from './state.js';

/** Seconds behind the heat map's "last minute" summary. */
const RECENT_SECONDS = 60;
/** Which figure the per-backend chart shows: `r` requests/s, `e` errors/s, `l` latency. */
let backendMetric = 'r';
export function setBackendMetric(metric) {
  backendMetric = metric;
}

const charts = {};

/** Create the uPlot charts (once, after the colours are read). */
export function initCharts() {
  charts.requests = chart('chart-requests');
  charts.status = chart('chart-status');
  charts.occupancy = chart('chart-occupancy');
  charts.backends = chart('chart-backends');
}

/** Rows of the window, oldest first, and their seconds. */
export function windowRows() {
  const now = Math.max(0, ...state.points.keys());
  for (const t of state.points.keys()) if (t <= now - WINDOW_SECONDS) state.points.delete(t);
  for (const t of state.backends.seconds.keys())
    if (t <= now - WINDOW_SECONDS) state.backends.seconds.delete(t);
  return [...state.points.values()].sort((a, b) => a.t - b.t);
}

const OUTCOME_COLORS = { hit: 'hit', miss: 'miss', pass: 'pass', stale: 'stale', revalidated: 'total' };
/** The cache outcomes present in the window, in a fixed order (unknown names last). */
function outcomeNames(rows) {
  const names = new Set();
  for (const p of rows) if (p.outcomes) for (const n of Object.keys(p.outcomes)) names.add(n);
  const order = ['hit', 'miss', 'pass', 'stale', 'revalidated', 'error'];
  const rank = (name) => (order.includes(name) ? order.indexOf(name) : order.length);
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

export function drawRequests(rows, ts) {
  const names = state.cacheOn ? outcomeNames(rows) : [];
  const series = [{ label: 'All', stroke: colors.total, width: 2, value: (_u, v) => rate(v) }];
  const data = [ts, rows.map((p) => p.requests)];
  if (state.cacheOn && names.length === 0) {
    // A server that does not sample outcomes: the hits and misses of its cache series.
    series.push({ label: 'Hit', stroke: colors.hit, fill: `${colors.hit}22` });
    series.push({ label: 'Miss', stroke: colors.miss });
    data.push(
      rows.map((p) => p.hits),
      rows.map((p) => p.misses),
    );
  }
  for (const name of names) {
    const color = name.startsWith('error') ? colors.s5xx : colors[OUTCOME_COLORS[name]] || colors.muted;
    series.push({ label: name[0].toUpperCase() + name.slice(1), stroke: color, value: (_u, v) => rate(v) });
    data.push(rows.map((p) => (p.outcomes ? (p.outcomes[name] ?? 0) : null)));
  }
  charts.requests.draw({
    series,
    data,
    scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
  });
}

export function drawStatus(rows, ts) {
  const classes = ['1xx', '2xx', '3xx', '4xx', '5xx'];
  charts.status.draw({
    series: classes.map((c) => ({ label: c, stroke: colors[`s${c}`], width: c === '5xx' ? 2 : 1 })),
    data: [ts, ...classes.map((_c, i) => rows.map((p) => (p.status ? p.status[i] : null)))],
    scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
  });
  $('chart-status').dataset.points = String(rows.filter((p) => p.status && sum(p.status) > 0).length);
}

function fitCapacity(max, cap, floor) {
  if (cap && max > cap * 0.5) return cap * 1.05;
  return Math.max(floor, (max || 0) * 1.25);
}

export function drawOccupancy(rows, ts) {
  $('occupancy-card').hidden = !state.cacheOn;
  if (!state.cacheOn) return;
  const maxBytes = Math.max(0, ...rows.map((p) => p.bytes || 0));
  charts.occupancy.draw({
    series: [
      { label: 'Bytes', stroke: colors.accent, width: 2, scale: 'bytes', value: (_u, v) => bytes(v) },
      { label: 'Capacity', stroke: colors.muted, dash: [6, 4], scale: 'bytes', value: (_u, v) => bytes(v) },
      { label: 'Entries', stroke: colors.pass, scale: 'entries', value: (_u, v) => count(v) },
    ],
    data: [
      ts,
      rows.map((p) => p.bytes),
      // The capacity line only when the cache gets near it (else it would flatten the bytes line).
      rows.map((p) =>
        p.bytes === null || maxBytes <= state.capacity.bytes * 0.5 ? null : state.capacity.bytes,
      ),
      rows.map((p) => p.entries),
    ],
    // Zoomed on the data while the cache is far from full; the capacity line comes into view near it.
    scales: {
      bytes: { range: (_u, _min, max) => [0, fitCapacity(max, state.capacity.bytes, 1024)] },
      entries: { range: (_u, _min, max) => [0, fitCapacity(max, state.capacity.entries, 10)] },
    },
    axes: [
      {},
      { scale: 'bytes', size: 70, values: (_u, ticks) => ticks.map(bytes) },
      { scale: 'entries', side: 1, size: 60, grid: { show: false } },
    ],
  });
  $('chart-occupancy').dataset.points = String(rows.filter((p) => p.bytes !== null).length);
}

/** Backend `i`'s label: its URL, with the route number when several routes list that URL. */
function backendName(i) {
  const name = state.backends.names[i];
  if (!name) return `#${i}`;
  const shared = state.backends.names.filter((n) => n.url === name.url).length > 1;
  return shared ? `${name.url} (route ${name.route})` : name.url;
}

export function drawBackends(ts) {
  const card = $('backend-chart-card');
  card.hidden = state.backends.names.length === 0;
  if (card.hidden) return;
  const rows = ts.map((t) => state.backends.seconds.get(t));
  // The six busiest backends over the window: a hundred lines would say nothing.
  const load = state.backends.names.map((_n, i) => sum(rows.map((s) => (s ? s.r[i] + s.e[i] : 0))));
  const top = load
    .map((n, i) => [n, i])
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, 6)
    .map(([, i]) => i);
  const metric = backendMetric;
  const format = metric === 'l' ? (_u, v) => (v === null ? '–' : `${v.toFixed(1)} ms`) : (_u, v) => rate(v);
  charts.backends.draw({
    series: top.map((i, k) => ({
      label: backendName(i),
      stroke: BACKEND_COLORS[k],
      width: 1.5,
      value: format,
      // A latency exists only in seconds with answers: dots, or a lone second would not show.
      points: { show: metric === 'l', size: 4 },
    })),
    data: [ts, ...top.map((i) => rows.map((s) => (s ? s[metric][i] : null)))],
    variant: metric,
    scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [
      {},
      { size: 60, values: (_u, ticks) => ticks.map((v) => (metric === 'l' ? `${v} ms` : String(v))) },
    ],
  });
  $('chart-backends').dataset.points = String(rows.filter((s) => s && sum(s.r) > 0).length);
  $('chart-backends').dataset.series = String(top.length);
}

/**
 * varnishhist turned on its side: one column per second, one row per latency bucket (fast at the
 * bottom), darker where more responses fell. Each column is scaled to its own busiest bucket, so a
 * quiet second still shows where its responses went.
 */
export function drawHeatmap(rows) {
  const canvas = $('chart-latency');
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (width === 0 || height === 0) return;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const buckets = state.latencyBounds.length + 1;
  const left = 64;
  const bottom = 18;
  const plotW = width - left - 4;
  const plotH = height - bottom - 4;
  const cellW = plotW / WINDOW_SECONDS;
  const cellH = plotH / buckets;
  const now = rows.length > 0 ? rows[rows.length - 1].t : 0;
  const low = parseColor(colors['heat-low']);
  const high = parseColor(colors['heat-high']);
  let drawn = 0;
  for (const p of rows) {
    if (!p.lat) continue;
    const peak = Math.max(...p.lat);
    if (peak === 0) continue;
    drawn++;
    const x = left + (WINDOW_SECONDS - 1 - (now - p.t)) * cellW;
    for (let b = 0; b < p.lat.length; b++) {
      if (p.lat[b] === 0) continue;
      // Square root: one slow response in a busy second stays visible.
      const f = Math.sqrt(p.lat[b] / peak);
      g.fillStyle = mix(low, high, 0.15 + 0.85 * f);
      g.fillRect(x, 4 + (buckets - 1 - b) * cellH, Math.max(1, cellW), Math.max(1, cellH - 1));
    }
  }
  // Axis labels: a few bucket bounds on the left, the time span below.
  g.fillStyle = colors.muted;
  g.font = '11px system-ui, sans-serif';
  g.textBaseline = 'middle';
  g.textAlign = 'right';
  // Every third bound: the decades 100 µs, 1 ms … 10 s.
  for (let b = 0; b < buckets; b += 3) {
    const label = b < state.latencyBounds.length ? `≤ ${seconds(state.latencyBounds[b])}` : '> 10 s';
    g.fillText(label, left - 6, 4 + (buckets - 1 - b + 0.5) * cellH);
  }
  g.textBaseline = 'top';
  g.fillText('now', left + plotW, plotH + 6);
  g.textAlign = 'left';
  g.fillText('5 min ago', left, plotH + 6);
  g.strokeStyle = colors.line;
  g.strokeRect(left + 0.5, 4.5, plotW, plotH);
  canvas.dataset.points = String(drawn);
  const [p50, p99] = quantiles(rows.slice(-RECENT_SECONDS), state.latencyBounds, [0.5, 0.99]);
  canvas.setAttribute(
    'aria-label',
    `Latency heat map of the last 5 minutes; last minute p50 ${seconds(p50)}, p99 ${seconds(p99)}`,
  );
}

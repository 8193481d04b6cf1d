// Tamarin admin dashboard: live figures from /api/events (Server-Sent Events read through fetch, so the
// token can travel in a header), charts, the cache entries and backends tables with their controls, and
// the configuration. Plain browser JavaScript modules, no build step; uPlot is loaded before them.
//
// Fields the server does not report (no cache, no proxy, counters an older server lacks) are shown as "–"
// or their chart left out: the page draws what the stream carries.

import { loadBans, wireBans } from './bans.js';
import {
  drawBackends,
  drawHeatmap,
  drawOccupancy,
  drawRequests,
  drawStatus,
  initCharts,
  setBackendMetric,
  windowRows,
} from './charts.js';
import { bytes, clock, count, duration } from './format.js';
import { loadPanels, refreshPanels } from './panels.js';
import { readColors, setXRange } from './plots.js';
import { drawPolicy, setPolicyHistory, updatePolicy } from './policy.js';
import { $, headers, refreshSession, showLogin, state, WINDOW_SECONDS } from './state.js';
import { loadBackends, loadConfig, loadEntries, refreshBackendRates, wireTables } from './tables.js';
import { drawTiles } from './tiles.js';
import { drawProtocols, loadCertificates } from './tls.js';

/** Show the stream's state (`live`, `down`, `connecting`); down after having been live fades the page. */
function setConnection(mode, text) {
  const el = $('conn');
  el.className = `conn ${mode}`;
  el.dataset.state = mode;
  $('conn-text').textContent = text;
  // Down after having been live: what is on screen is the past. Fade it and say since when.
  const stale = mode === 'down' && state.lastLive !== null;
  $('main').classList.toggle('stale', stale);
  $('main').setAttribute('aria-busy', String(stale));
  $('stale-banner').hidden = !stale;
  if (stale) $('stale-since').textContent = clock(state.lastLive);
}

function redraw() {
  if (state.latest === null) return;
  const rows = windowRows();
  const ts = rows.map((p) => p.t);
  const newest = ts.length > 0 ? ts[ts.length - 1] : Math.floor(Date.now() / 1000);
  setXRange(newest - WINDOW_SECONDS + 1, newest);
  drawTiles(rows, state.latest);
  drawRequests(rows, ts);
  drawStatus(rows, ts);
  drawHeatmap(rows);
  drawOccupancy(rows, ts);
  drawBackends(ts);
  drawPolicy(ts, newest);
  // For people and tests alike: how many seconds carry traffic, and the busiest one.
  $('chart-requests').dataset.points = String(rows.filter((p) => p.requests > 0).length);
  $('chart-requests').dataset.max = String(Math.max(0, ...rows.map((p) => p.requests)));
}

function applyStats(s) {
  state.latest = s;
  state.lastLive = s.time;
  const w = s.server.workers;
  $('meta').textContent = `${w} worker${w === 1 ? '' : 's'} · up ${duration(s.server.uptimeMs)}`;
  const c = s.cache;
  $('clear').disabled = c === null;
  if (c !== null) {
    state.capacity = { bytes: c.maxBytes, entries: c.maxEntries };
    $('occupancy-caption').textContent =
      `${bytes(c.bytes)} of ${bytes(c.maxBytes)}` +
      (c.maxEntries === null
        ? `, ${count(c.entries)} entries`
        : `, ${count(c.entries)} of ${count(c.maxEntries)} entries`);
    // An empty table when the cache fills (or the reverse) is redrawn at once, not at the next poll.
    const before = $('occupancy-caption').dataset.entries;
    if (before !== undefined && (before === '0') !== (c.entries === 0)) loadEntries();
    $('occupancy-caption').dataset.entries = String(c.entries);
  }
  for (const p of s.points) mergePoint(p);
  // Sent only when they changed: the last ones stay true until the next.
  if (s.policy) updatePolicy(s.policy, s.points[s.points.length - 1]?.t ?? Math.floor(s.time / 1000));
  if (s.protocols) state.protocols = s.protocols;
  drawProtocols(state.protocols, s.server.requests);
  if (s.backends) {
    if (s.backends.list) setBackendList(s.backends.version, s.backends.list);
    if (s.backends.version !== state.backends.version) {
      // The list changed and this page missed the frame that carried it: the history frame brings it.
      resync = true;
      stream?.abort();
      return;
    }
    state.backends.seconds.set(s.backends.t, s.backends.now);
    state.backends.now = s.backends.now;
    refreshBackendRates();
  }
  redraw();
}

function setBackendList(version, routes) {
  state.backends.version = version;
  state.backends.routes = routes;
  state.backends.names = routes.flatMap((r) => r.urls.map((url) => ({ route: r.route, url })));
  state.backends.seconds.clear();
}

/**
 * Add a second to the window, merged into what the page has: after an admin restart the new feed has no
 * samples of the seconds before it started (nor of its first), and what the page saw is still true.
 */
function mergePoint(p) {
  const known = state.points.get(p.t);
  if (known === undefined) state.points.set(p.t, p);
  else for (const [k, v] of Object.entries(p)) if (v !== null && v !== undefined) known[k] = v;
}

let stream = null;
/** The stream was closed on purpose to be opened again at once (see applyStats). */
let resync = false;
let retryMs = 1000;
let watchdog = null;

/** Read /api/events; reconnect with a growing delay when it drops or goes silent. */
async function connect() {
  const controller = new AbortController();
  stream = controller;
  const silent = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => controller.abort(), 5000);
  };
  silent();
  try {
    // The session is read before the stream opens, on every (re)connect: after a drop the admin may have
    // restarted with a new generated token, and going live on a refused session call (reads need no
    // token on loopback) would keep the old token, or none, for the next mutating call.
    await refreshSession();
    const res = await fetch('/api/events', {
      headers: headers({ accept: 'text/event-stream' }),
      signal: controller.signal,
      cache: 'no-store',
    });
    if (res.status === 401) {
      showLogin('the token was not accepted');
      setConnection('down', 'Token needed');
      return;
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    loadConfig();
    loadPanels();
    loadCertificates();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      silent();
      buffer += value;
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        handleFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
      }
    }
  } catch {
    // Dropped, refused or silent: fall through to the retry.
  }
  clearTimeout(watchdog);
  if (stream !== controller) return;
  if (resync) {
    resync = false;
    connect();
    return;
  }
  setConnection('down', `Reconnecting in ${Math.round(retryMs / 1000)} s…`);
  setTimeout(connect, retryMs);
  retryMs = Math.min(retryMs * 2, 10_000);
}

function handleFrame(text) {
  let event = 'message';
  let data = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data += line.slice(5).trimStart();
  }
  if (data === '') return;
  const payload = JSON.parse(data);
  if (event === 'history') {
    if (payload.latencyBounds) state.latencyBounds = payload.latencyBounds;
    setPolicyHistory(payload.policy);
    state.protocols = payload.protocols ?? null;
    for (const p of payload.points) mergePoint(p);
    if (payload.backends) {
      setBackendList(payload.backends.version, payload.backends.list);
      for (const s of payload.backends.seconds) state.backends.seconds.set(s.t, s);
    } else setBackendList(-1, []);
  } else if (event === 'stats') {
    retryMs = 1000;
    const was = $('conn').dataset.state;
    setConnection('live', 'Live');
    applyStats(payload);
    // Back after an outage: the tables are as old as the figures were.
    if (was !== 'live') {
      loadEntries();
      loadBackends();
      loadBans();
    }
  }
}

async function start() {
  try {
    const session = await refreshSession();
    if (!session.token && session.tokenRequired && !state.token) {
      showLogin('');
      setConnection('down', 'Token needed');
      return;
    }
  } catch {
    // The stream's retry loop reports the outage.
  }
  $('login').hidden = true;
  connect();
  loadEntries();
  loadBackends();
  loadBans();
}

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  state.token = $('token-input').value.trim();
  sessionStorage.setItem('tamarin-admin-token', state.token);
  if (stream) stream.abort();
  stream = null;
  start();
});
for (const b of document.querySelectorAll('[data-metric]')) {
  b.addEventListener('click', () => {
    setBackendMetric(b.dataset.metric);
    for (const other of document.querySelectorAll('[data-metric]')) {
      other.classList.toggle('on', other === b);
      other.setAttribute('aria-pressed', String(other === b));
    }
    redraw();
  });
}
// Light or dark follows the system, also while the page is open.
const dark = matchMedia('(prefers-color-scheme: dark)');
dark.addEventListener('change', () => {
  readColors();
  redraw();
  // Which scheme the charts are drawn in (for tests and tooling: the CSS alone says it before they are).
  document.documentElement.dataset.scheme = dark.matches ? 'dark' : 'light';
});
new ResizeObserver(() => state.latest && drawHeatmap(windowRows())).observe($('chart-latency'));

readColors();
initCharts();
wireTables();
wireBans();
setInterval(() => {
  if (document.hidden || !stream) return;
  loadEntries();
  loadBackends();
  loadBans();
  refreshPanels();
}, 3000);
// Certificates change on a reload or a renewal: a minute is soon enough.
setInterval(() => !document.hidden && stream && loadCertificates(), 60_000);
$('panels-details').addEventListener('toggle', refreshPanels);
start();

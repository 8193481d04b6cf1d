// Tamarin admin dashboard: live graphs from /api/events (Server-Sent Events read through fetch, so the
// token can travel in a header), counters, the top entries table, purge and clear. Plain browser
// JavaScript, no build step; uPlot is loaded before this file.

(() => {
  const WINDOW_SECONDS = 300;
  const $ = (id) => document.getElementById(id);

  /** The admin token: from /api/session on loopback, else typed in by the user (kept for this tab). */
  let token = sessionStorage.getItem('tamarin-admin-token');
  let sort = 'hits';
  /** Which plugins run (from /api/session): their tables are shown and polled only then. */
  let cacheOn = true;
  let proxyOn = false;
  let capacity = { bytes: 0, entries: null };
  /** Points by unix second: { t, requests, hits, misses, bytes, entries }. */
  const points = new Map();

  // ---- formatting ----
  const count = (n) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
  const bytes = (n) => {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
  };
  const percent = (r) => (r === null || r === undefined ? '–' : `${(r * 100).toFixed(1)} %`);
  const duration = (ms) => {
    if (ms === null || ms === undefined) return '–';
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  };
  const setValue = (id, text, raw) => {
    const el = $(id);
    el.textContent = text;
    if (raw !== undefined) el.dataset.value = String(raw);
  };

  // ---- API ----
  const headers = (extra) => {
    const h = { accept: 'application/json', ...extra };
    if (token) h.authorization = `Bearer ${token}`;
    return h;
  };
  /** Ask the admin whether a token is needed; on loopback it hands the page its (current) token. */
  async function refreshSession() {
    const res = await fetch('/api/session', { headers: headers(), cache: 'no-store' });
    const session = await res.json();
    if (session.token) token = session.token;
    if (session.cache !== undefined) cacheOn = session.cache;
    if (session.proxy !== undefined) proxyOn = session.proxy;
    $('entries-card').hidden = !cacheOn;
    $('backends-card').hidden = !proxyOn;
    return session;
  }

  async function api(method, path) {
    // A mutating call reads the session first: the admin may have restarted with a new generated token
    // since the page last asked, and a refused call would show in the console even when retried.
    if (method !== 'GET') await refreshSession().catch(() => {});
    const res = await fetch(path, { method, headers: headers(), cache: 'no-store' });
    const body = await res.json().catch(() => ({}));
    if (res.status === 401) showLogin(body.message);
    if (!res.ok) throw new Error(body.message || `${res.status} ${res.statusText}`);
    return body;
  }

  // ---- connection indicator ----
  function setConnection(state, text) {
    const el = $('conn');
    el.className = `conn ${state}`;
    el.dataset.state = state;
    $('conn-text').textContent = text;
  }

  // ---- charts ----
  const charts = {};
  function makeChart(id, series, scales, axes) {
    const el = $(id);
    const opts = {
      width: Math.max(200, el.clientWidth),
      height: 220,
      series: [{}, ...series],
      scales: { x: { time: true }, ...scales },
      axes: axes || [{}, { size: 60 }],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    const data = [[], ...series.map(() => [])];
    const plot = new uPlot(opts, data, el);
    new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height: 220 })).observe(el);
    return plot;
  }

  function fitCapacity(max, cap, floor) {
    if (cap && max > cap * 0.5) return cap * 1.05;
    return Math.max(floor, (max || 0) * 1.25);
  }

  function initCharts() {
    charts.requests = makeChart(
      'chart-requests',
      [
        { label: 'Requests/s', stroke: '#3b6fd8', width: 2 },
        { label: 'Hits/s', stroke: '#2e9e5b', fill: 'rgba(46,158,91,0.12)' },
        { label: 'Misses/s', stroke: '#d64545' },
      ],
      { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    );
    charts.ratio = makeChart(
      'chart-ratio',
      [{ label: 'Hit ratio', stroke: '#2e9e5b', width: 2, value: (_u, v) => percent(v), spanGaps: false }],
      { y: { range: [0, 1] } },
      [{}, { size: 60, values: (_u, ticks) => ticks.map((v) => `${Math.round(v * 100)}%`) }],
    );
    charts.occupancy = makeChart(
      'chart-occupancy',
      [
        { label: 'Bytes', stroke: '#d9822b', width: 2, scale: 'bytes', value: (_u, v) => bytes(v) },
        { label: 'Capacity', stroke: '#667085', dash: [6, 4], scale: 'bytes', value: (_u, v) => bytes(v) },
        { label: 'Entries', stroke: '#7c4dbd', scale: 'entries', value: (_u, v) => count(v) },
      ],
      {
        // Zoomed on the data while the cache is far from full; the capacity line comes into view near it.
        bytes: { range: (_u, _min, max) => [0, fitCapacity(max, capacity.bytes, 1024)] },
        entries: { range: (_u, _min, max) => [0, fitCapacity(max, capacity.entries, 10)] },
      },
      [
        {},
        { scale: 'bytes', size: 70, values: (_u, ticks) => ticks.map(bytes) },
        { scale: 'entries', side: 1, size: 60, grid: { show: false } },
      ],
    );
  }

  function redraw() {
    const now = Math.max(0, ...points.keys());
    for (const t of points.keys()) if (t <= now - WINDOW_SECONDS) points.delete(t);
    const rows = [...points.values()].sort((a, b) => a.t - b.t);
    const ts = rows.map((p) => p.t);
    const maxBytes = Math.max(0, ...rows.map((p) => p.bytes || 0));
    const traffic = rows.filter((p) => p.requests > 0 || p.hits > 0 || p.misses > 0).length;
    charts.requests.setData([
      ts,
      rows.map((p) => p.requests),
      rows.map((p) => p.hits),
      rows.map((p) => p.misses),
    ]);
    charts.ratio.setData([
      ts,
      rows.map((p) => (p.hits + p.misses > 0 ? p.hits / (p.hits + p.misses) : null)),
    ]);
    charts.occupancy.setData([
      ts,
      rows.map((p) => p.bytes),
      // The capacity line only when the cache gets near it (else it would flatten the bytes line).
      rows.map((p) => (p.bytes === null || maxBytes <= capacity.bytes * 0.5 ? null : capacity.bytes)),
      rows.map((p) => p.entries),
    ]);
    // For people and tests alike: how many seconds carry traffic, and the busiest one.
    $('chart-requests').dataset.points = String(traffic);
    $('chart-requests').dataset.max = String(Math.max(0, ...rows.map((p) => p.requests)));
    $('chart-ratio').dataset.points = String(rows.filter((p) => p.hits + p.misses > 0).length);
    $('chart-occupancy').dataset.points = String(rows.filter((p) => p.bytes !== null).length);
  }

  // ---- live stream ----
  function applyStats(s) {
    const last = s.points[s.points.length - 1];
    setValue('c-rps', count(last ? last.requests : 0), last ? last.requests : 0);
    setValue('c-requests', count(s.server.requests), s.server.requests);
    setValue('c-connections', count(s.server.connections), s.server.connections);
    const w = s.server.workers;
    $('meta').textContent = `${w} worker${w === 1 ? '' : 's'} · up ${duration(s.server.uptimeMs)}`;
    const c = s.cache;
    if (c === null) {
      for (const id of [
        'c-hits',
        'c-misses',
        'c-ratio',
        'c-evictions',
        'c-expirations',
        'c-entries',
        'c-bytes',
      ])
        setValue(id, 'off');
      $('clear').disabled = true;
    } else {
      capacity = { bytes: c.maxBytes, entries: c.maxEntries };
      setValue('c-hits', count(c.hits), c.hits);
      setValue('c-misses', count(c.misses), c.misses);
      setValue('c-ratio', percent(c.hitRatio), c.hitRatio);
      setValue('c-evictions', count(c.evictions), c.evictions);
      setValue('c-expirations', count(c.expirations), c.expirations);
      setValue('c-entries', count(c.entries), c.entries);
      setValue('c-bytes', bytes(c.bytes), c.bytes);
      $('c-capacity').textContent = `of ${bytes(c.maxBytes)} (${percent(c.bytes / c.maxBytes)})`;
      $('occupancy-caption').textContent =
        `${bytes(c.bytes)} of ${bytes(c.maxBytes)}` +
        (c.maxEntries === null
          ? `, ${count(c.entries)} entries`
          : `, ${count(c.entries)} of ${count(c.maxEntries)} entries`);
    }
    for (const p of s.points) points.set(p.t, p);
    redraw();
  }

  let stream = null;
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
      for (const p of payload.points) points.set(p.t, p);
    } else if (event === 'stats') {
      retryMs = 1000;
      setConnection('live', 'Live');
      applyStats(payload);
    }
  }

  // ---- entries table, purge, clear ----
  /** A table row of `[text, class]` cells. */
  function tableRow(cells) {
    const tr = document.createElement('tr');
    for (const [text, cls] of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      td.className = cls;
      tr.append(td);
    }
    return tr;
  }

  /** Replace `body`'s rows with one message spanning `columns` (an empty table, a failed load). */
  function messageRow(body, columns, text) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = columns;
    td.className = 'empty';
    td.textContent = text;
    tr.append(td);
    body.replaceChildren(tr);
  }

  function row(entry) {
    const tr = tableRow([
      [entry.path, 'path'],
      [count(entry.hits), 'num'],
      [bytes(entry.size), 'num'],
      [duration(entry.ageMs), 'num'],
      [entry.expiresInMs === null ? 'never' : duration(entry.expiresInMs), 'num'],
    ]);
    const td = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'small purge';
    button.textContent = 'Purge';
    button.title = `Remove ${entry.path} from every worker`;
    button.addEventListener('click', () => purge(entry.path));
    td.append(button);
    tr.append(td);
    return tr;
  }

  async function loadEntries() {
    if (!cacheOn) return;
    const body = $('entries');
    try {
      const result = await api('GET', `/api/cache/entries?sort=${sort}&limit=15`);
      body.replaceChildren(...result.entries.map(row));
      body.dataset.count = String(result.entries.length);
      if (result.entries.length === 0) messageRow(body, 6, 'The cache is empty.');
    } catch (error) {
      messageRow(body, 6, error.message);
      body.dataset.count = '0';
    }
  }

  // ---- proxy backends ----
  function backendRow(route, backend) {
    const where = `${route.host ? `${route.host} ` : ''}${route.match.join(' ')}`;
    const tr = tableRow([
      [where, 'path'],
      [backend.url, 'path'],
      [backend.state, `state ${backend.state}`],
      [count(backend.inFlight), 'num'],
      [count(backend.requests), 'num'],
      [count(backend.failures), 'num'],
      [backend.latencyMs > 0 ? `${backend.latencyMs.toFixed(1)} ms` : '–', 'num'],
      [backend.lastError ?? '', 'error-text'],
    ]);
    tr.dataset.url = backend.url;
    tr.dataset.state = backend.state;
    tr.dataset.requests = String(backend.requests);
    return tr;
  }

  async function loadBackends() {
    if (!proxyOn) return;
    const body = $('backends');
    try {
      const result = await api('GET', '/api/proxy/backends');
      const rows = result.routes.flatMap((route) => route.backends.map((b) => backendRow(route, b)));
      body.replaceChildren(...rows);
      body.dataset.count = String(rows.length);
    } catch (error) {
      messageRow(body, 8, error.message);
      body.dataset.count = '0';
    }
  }

  function status(text) {
    $('action-status').textContent = text;
  }

  async function purge(path) {
    try {
      const result = await api('DELETE', `/api/cache?path=${encodeURIComponent(path)}`);
      status(`Purged ${path}: ${count(result.removed)} entries, ${bytes(result.bytes)}.`);
    } catch (error) {
      status(`Purge failed: ${error.message}`);
    }
    loadEntries();
  }

  function confirmClear() {
    const dialog = $('confirm');
    dialog.showModal();
    $('confirm-ok').focus();
  }

  async function clearCache() {
    $('confirm').close();
    try {
      const result = await api('DELETE', '/api/cache');
      status(`Cache cleared: ${count(result.removed)} entries, ${bytes(result.bytes)} removed.`);
    } catch (error) {
      status(`Clear failed: ${error.message}`);
    }
    loadEntries();
  }

  function setSort(next) {
    sort = next;
    for (const name of ['hits', 'size']) {
      const b = $(`sort-${name}`);
      b.classList.toggle('on', name === next);
      b.setAttribute('aria-pressed', String(name === next));
    }
    loadEntries();
  }

  // ---- token ----
  function showLogin(message) {
    $('login').hidden = false;
    $('login-error').textContent = message || '';
  }

  async function start() {
    try {
      const session = await refreshSession();
      if (!session.token && session.tokenRequired && !token) {
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
  }

  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    token = $('token-input').value.trim();
    sessionStorage.setItem('tamarin-admin-token', token);
    if (stream) stream.abort();
    stream = null;
    start();
  });
  $('sort-hits').addEventListener('click', () => setSort('hits'));
  $('sort-size').addEventListener('click', () => setSort('size'));
  $('clear').addEventListener('click', confirmClear);
  $('confirm-ok').addEventListener('click', clearCache);
  $('confirm-cancel').addEventListener('click', () => $('confirm').close());

  initCharts();
  setInterval(() => {
    if (document.hidden || !stream) return;
    loadEntries();
    loadBackends();
  }, 3000);
  start();
})();

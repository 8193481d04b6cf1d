// Tamarin admin dashboard: live figures from /api/events (Server-Sent Events read through fetch, so the
// token can travel in a header), charts, the cache entries and backends tables with their controls, and
// the configuration. Plain browser JavaScript, no build step; uPlot is loaded before this file.
//
// Fields the server does not report (no cache, no proxy, counters an older server lacks) are shown as "–"
// or their chart left out: the page draws what the stream carries.

(() => {
  const WINDOW_SECONDS = 300;
  /** Seconds behind each sparkline and behind the "last minute" figures of the top row. */
  const SPARK_SECONDS = 120;
  const RECENT_SECONDS = 60;
  const PAGE_SIZE = 15;
  const $ = (id) => document.getElementById(id);

  /** The admin token: from /api/session on loopback, else typed in by the user (kept for this tab). */
  let token = sessionStorage.getItem('tamarin-admin-token');
  /** Which plugins run (from /api/session): their tables are shown and polled only then. */
  let cacheOn = true;
  let proxyOn = false;
  let capacity = { bytes: 0, entries: null };
  /** Points by unix second (see `Point` in src/admin/live.ts). */
  const points = new Map();
  /** Latency bucket upper bounds in seconds (from the history frame); the last bucket is +Inf. */
  let latencyBounds = [];
  /** The proxy's backends: routes with their URLs (`LiveRoute`), the list's version, seconds by `t`. */
  const backends = { version: -1, routes: [], names: [], seconds: new Map() };
  let backendMetric = 'r';
  /** Time of the last snapshot, shown while reconnecting. */
  let lastLive = null;

  // ---- formatting ----
  const count = (n) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
  const rate = (n) => {
    if (n === null || n === undefined) return '–';
    if (Number.isInteger(n) || n >= 100) return count(n);
    return n >= 10 ? n.toFixed(1) : n.toFixed(2);
  };
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
  const percent = (r) =>
    r === null || r === undefined || Number.isNaN(r) ? '–' : `${(r * 100).toFixed(1)} %`;
  /** A latency: three significant digits at most, in the unit that keeps it short. */
  const seconds = (s) => {
    if (s === null || s === undefined) return '–';
    if (s === Infinity) return '> 10 s';
    const short = (n) => String(Number(n.toPrecision(n < 1 ? 2 : 3)));
    if (s < 0.001) return `${short(s * 1e6)} µs`;
    if (s < 1) return `${short(s * 1000)} ms`;
    return `${short(s)} s`;
  };
  const duration = (ms) => {
    if (ms === null || ms === undefined) return '–';
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  };
  const clock = (ms) => new Date(ms).toLocaleTimeString('en-GB');
  const sum = (values) => values.reduce((a, b) => a + b, 0);

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
    if (session.configLoadedAt) {
      const at = Date.parse(session.configLoadedAt);
      $('config-loaded').textContent = `loaded ${clock(at)} (${duration(Date.now() - at)} ago)`;
      $('config-loaded').dataset.loadedAt = session.configLoadedAt;
    }
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

  // ---- connection state ----
  function setConnection(state, text) {
    const el = $('conn');
    el.className = `conn ${state}`;
    el.dataset.state = state;
    $('conn-text').textContent = text;
    // Down after having been live: what is on screen is the past. Fade it and say since when.
    const stale = state === 'down' && lastLive !== null;
    $('main').classList.toggle('stale', stale);
    $('main').setAttribute('aria-busy', String(stale));
    $('stale-banner').hidden = !stale;
    if (stale) $('stale-since').textContent = clock(lastLive);
  }

  // ---- colours (read from the stylesheet, so light and dark mode need nothing here) ----
  let colors = {};
  function readColors() {
    const style = getComputedStyle(document.documentElement);
    const names = ['ink', 'muted', 'line', 'grid', 'card', 'accent', 'hit', 'miss', 'pass', 'stale', 'total'];
    names.push('s1xx', 's2xx', 's3xx', 's4xx', 's5xx', 'heat-low', 'heat-high');
    colors = Object.fromEntries(names.map((n) => [n, style.getPropertyValue(`--${n}`).trim()]));
  }
  const BACKEND_COLORS = ['#3b6fd8', '#d9822b', '#23844b', '#c93c3c', '#7c4dbd', '#0f9aa8'];

  // ---- charts ----
  /**
   * A uPlot chart whose series can change (outcomes the server starts reporting, the busiest backends):
   * rebuilt when the series' labels or the colour scheme change, else only fed new data.
   */
  /** The seconds every chart spans: the whole window, also where a series has no values yet. */
  let xRange = [0, 1];

  function chart(id, height = 220) {
    const el = $(id);
    let plot = null;
    let shape = '';
    new ResizeObserver(() => plot?.setSize({ width: Math.max(200, el.clientWidth), height })).observe(el);
    return {
      /** `spec`: { series, scales, axes, data } with data[0] the seconds. */
      draw(spec) {
        const key = JSON.stringify([spec.series.map((s) => s.label), colors.ink]);
        if (plot === null || key !== shape) {
          plot?.destroy();
          shape = key;
          const axis = {
            stroke: colors.muted,
            grid: { stroke: colors.grid },
            ticks: { stroke: colors.grid },
          };
          const axes = (spec.axes || [{}, { size: 60 }]).map((a) => ({ ...axis, ...a }));
          plot = new uPlot(
            {
              width: Math.max(200, el.clientWidth),
              height,
              series: [{}, ...spec.series],
              scales: { x: { time: true, range: () => xRange }, ...spec.scales },
              axes,
              legend: { live: true },
              cursor: { drag: { x: false, y: false } },
            },
            spec.data,
            el,
          );
        } else plot.setData(spec.data);
      },
    };
  }

  const charts = {};

  /** Rows of the window, oldest first, and their seconds. */
  function windowRows() {
    const now = Math.max(0, ...points.keys());
    for (const t of points.keys()) if (t <= now - WINDOW_SECONDS) points.delete(t);
    for (const t of backends.seconds.keys()) if (t <= now - WINDOW_SECONDS) backends.seconds.delete(t);
    return [...points.values()].sort((a, b) => a.t - b.t);
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

  function drawRequests(rows, ts) {
    const names = cacheOn ? outcomeNames(rows) : [];
    const series = [{ label: 'All', stroke: colors.total, width: 2, value: (_u, v) => rate(v) }];
    const data = [ts, rows.map((p) => p.requests)];
    if (cacheOn && names.length === 0) {
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

  function drawStatus(rows, ts) {
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

  function drawOccupancy(rows, ts) {
    $('occupancy-card').hidden = !cacheOn;
    if (!cacheOn) return;
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
        rows.map((p) => (p.bytes === null || maxBytes <= capacity.bytes * 0.5 ? null : capacity.bytes)),
        rows.map((p) => p.entries),
      ],
      // Zoomed on the data while the cache is far from full; the capacity line comes into view near it.
      scales: {
        bytes: { range: (_u, _min, max) => [0, fitCapacity(max, capacity.bytes, 1024)] },
        entries: { range: (_u, _min, max) => [0, fitCapacity(max, capacity.entries, 10)] },
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
    const name = backends.names[i];
    if (!name) return `#${i}`;
    const shared = backends.names.filter((n) => n.url === name.url).length > 1;
    return shared ? `${name.url} (route ${name.route})` : name.url;
  }

  function drawBackends(ts) {
    const card = $('backend-chart-card');
    card.hidden = backends.names.length === 0;
    if (card.hidden) return;
    const rows = ts.map((t) => backends.seconds.get(t));
    // The six busiest backends over the window: a hundred lines would say nothing.
    const load = backends.names.map((_n, i) => sum(rows.map((s) => (s ? s.r[i] + s.e[i] : 0))));
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
      })),
      data: [ts, ...top.map((i) => rows.map((s) => (s ? s[metric][i] : null)))],
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [
        {},
        { size: 60, values: (_u, ticks) => ticks.map((v) => (metric === 'l' ? `${v} ms` : String(v))) },
      ],
    });
    $('chart-backends').dataset.points = String(rows.filter((s) => s && sum(s.r) > 0).length);
    $('chart-backends').dataset.series = String(top.length);
  }

  // ---- latency heat map ----
  /**
   * varnishhist turned on its side: one column per second, one row per latency bucket (fast at the
   * bottom), darker where more responses fell. Each column is scaled to its own busiest bucket, so a
   * quiet second still shows where its responses went.
   */
  function drawHeatmap(rows) {
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
    const buckets = latencyBounds.length + 1;
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
      const label = b < latencyBounds.length ? `≤ ${seconds(latencyBounds[b])}` : '> 10 s';
      g.fillText(label, left - 6, 4 + (buckets - 1 - b + 0.5) * cellH);
    }
    g.textBaseline = 'top';
    g.fillText('now', left + plotW, plotH + 6);
    g.textAlign = 'left';
    g.fillText('5 min ago', left, plotH + 6);
    g.strokeStyle = colors.line;
    g.strokeRect(left + 0.5, 4.5, plotW, plotH);
    canvas.dataset.points = String(drawn);
    const [p50, p99] = quantiles(rows.slice(-RECENT_SECONDS), [0.5, 0.99]);
    canvas.setAttribute(
      'aria-label',
      `Latency heat map of the last 5 minutes; last minute p50 ${seconds(p50)}, p99 ${seconds(p99)}`,
    );
  }

  function parseColor(text) {
    const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(text);
    return m ? [1, 2, 3].map((i) => Number.parseInt(m[i], 16)) : [128, 128, 128];
  }
  function mix(a, b, f) {
    return `rgb(${a.map((v, i) => Math.round(v + (b[i] - v) * f)).join(' ')})`;
  }

  /**
   * Latency quantiles over `rows`' summed buckets, interpolated inside the bucket (as Prometheus'
   * histogram_quantile does); Infinity when it falls in the +Inf bucket, null without responses.
   */
  function quantiles(rows, qs) {
    const counts = new Array(latencyBounds.length + 1).fill(0);
    for (const p of rows) {
      if (!p.lat) continue;
      for (let i = 0; i < counts.length; i++) counts[i] += p.lat[i] ?? 0;
    }
    const total = sum(counts);
    if (total === 0) return qs.map(() => null);
    return qs.map((q) => {
      const rank = q * total;
      let seen = 0;
      for (let i = 0; i < counts.length; i++) {
        if (seen + counts[i] >= rank && counts[i] > 0) {
          if (i >= latencyBounds.length) return Infinity;
          const lower = i === 0 ? 0 : latencyBounds[i - 1];
          return lower + (latencyBounds[i] - lower) * ((rank - seen) / counts[i]);
        }
        seen += counts[i];
      }
      return Infinity;
    });
  }

  // ---- top row ----
  /** Draw `values` (oldest first, null = unknown) as a sparkline in `svg`. */
  function sparkline(svg, values) {
    const known = values.filter((v) => v !== null && v !== undefined);
    svg.replaceChildren();
    svg.setAttribute('viewBox', `0 0 ${SPARK_SECONDS} 26`);
    svg.setAttribute('preserveAspectRatio', 'none');
    if (known.length < 2) return;
    const max = Math.max(...known) || 1;
    const coords = [];
    values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      coords.push(`${i + SPARK_SECONDS - values.length},${(25 - (v / max) * 23).toFixed(1)}`);
    });
    const ns = 'http://www.w3.org/2000/svg';
    const area = document.createElementNS(ns, 'polygon');
    const first = coords[0].split(',')[0];
    const last = coords[coords.length - 1].split(',')[0];
    area.setAttribute('points', `${first},26 ${coords.join(' ')} ${last},26`);
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', coords.join(' '));
    line.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.append(area, line);
  }

  /** Set tile `id`: its value (and `data-value` for tests and tooling), the line under it, the sparkline. */
  function tile(id, text, raw, sub, spark) {
    const el = $(id);
    el.querySelector('.value').textContent = text;
    el.dataset.value = raw === null || raw === undefined ? '' : String(raw);
    el.querySelector('.sub').textContent = sub;
    sparkline(el.querySelector('.spark'), spark);
  }

  /**
   * Hits over cacheable lookups, as the server's hitRatio: (hit + stale) / (hit + stale + revalidated +
   * miss). A pass (uncacheable, a 404) and an error (a 5xx) are no lookups the cache could have answered.
   */
  function hitRatioOf(o) {
    if (!o) return null;
    const hit = (o.hit ?? 0) + (o.stale ?? 0);
    const lookups = hit + (o.revalidated ?? 0) + (o.miss ?? 0);
    return lookups > 0 ? hit / lookups : null;
  }
  const outcomesOf = (p) => p.outcomes ?? { hit: p.hits, miss: p.misses };
  const summed = (rows, pick) => {
    const out = {};
    for (const p of rows) for (const [k, v] of Object.entries(pick(p) ?? {})) out[k] = (out[k] ?? 0) + v;
    return out;
  };

  function drawTiles(rows, snapshot) {
    const spark = rows.slice(-SPARK_SECONDS);
    const recent = rows.slice(-RECENT_SECONDS);
    const last = rows[rows.length - 1];
    const rps = last ? last.requests : 0;
    tile(
      'k-rps',
      rate(rps),
      rps,
      `${count(snapshot.server.requests)} since start`,
      spark.map((p) => p.requests),
    );

    // Error rate over the last minute: 5xx is the headline, 4xx (usually the clients') beside it.
    const status = [0, 1, 2, 3, 4].map((i) => sum(recent.map((p) => (p.status ? p.status[i] : 0))));
    const answered = sum(status);
    const e5 = answered > 0 ? status[4] / answered : null;
    const e4 = answered > 0 ? status[3] / answered : null;
    tile(
      'k-errors',
      percent(e5 ?? 0),
      e5 ?? 0,
      `4xx ${percent(e4 ?? 0)} · last minute`,
      spark.map((p) => (p.status ? p.status[4] : null)),
    );
    $('k-errors').classList.toggle('warn', (e5 ?? 0) >= 0.01);
    $('k-errors').dataset.value4xx = String(e4 ?? 0);

    const c = snapshot.cache;
    if (c === null) tile('k-ratio', 'off', null, 'no cache plugin', []);
    else {
      const ratio = hitRatioOf(summed(recent, outcomesOf));
      const since = c.hitRatio;
      tile(
        'k-ratio',
        percent(ratio),
        ratio,
        `${percent(since)} since start`,
        spark.map((p) => hitRatioOf(outcomesOf(p))),
      );
    }

    // Bytes: shown only when the server counts them.
    const io = summed(recent, (p) => p.io);
    const hasOut = recent.some((p) => p.io && p.io.out !== undefined);
    const hasOrigin = recent.some((p) => p.io && p.io.origin !== undefined && p.io.cached !== undefined);
    if (hasOut) {
      const perSecond = io.out / Math.max(1, recent.length);
      tile(
        'k-bandwidth',
        `${bytes(perSecond)}/s`,
        perSecond,
        io.in !== undefined
          ? `in ${bytes(io.in / Math.max(1, recent.length))}/s · last minute`
          : 'last minute',
        spark.map((p) => (p.io ? (p.io.out ?? null) : null)),
      );
    } else tile('k-bandwidth', '–', null, 'not reported by this server', []);
    // Offload: the share of the cache's body bytes that came from the store rather than an origin.
    const offloadOf = (b) => (b && b.cached + b.origin > 0 ? b.cached / (b.cached + b.origin) : null);
    if (hasOrigin) {
      const offload = offloadOf(io);
      tile(
        'k-offload',
        percent(offload),
        offload,
        `${bytes(io.origin)} from origins · last minute`,
        spark.map((p) => offloadOf(p.io)),
      );
    } else tile('k-offload', '–', null, 'not reported by this server', []);

    const [p50, p99] = quantiles(recent, [0.5, 0.99]);
    tile(
      'k-latency',
      `${seconds(p50)} / ${seconds(p99)}`,
      p99 === null ? null : p99 === Infinity ? 'Infinity' : p99,
      'last minute',
      spark.map((p) => (p.lat ? quantiles([p], [0.99])[0] : null)).map((v) => (v === Infinity ? null : v)),
    );
    tile(
      'k-connections',
      count(snapshot.server.connections),
      snapshot.server.connections,
      `${snapshot.server.workers} worker${snapshot.server.workers === 1 ? '' : 's'}`,
      spark.map((p) => p.conn ?? null),
    );
  }

  let latest = null;
  function redraw() {
    if (latest === null) return;
    const rows = windowRows();
    const ts = rows.map((p) => p.t);
    const newest = ts.length > 0 ? ts[ts.length - 1] : Math.floor(Date.now() / 1000);
    xRange = [newest - WINDOW_SECONDS + 1, newest];
    drawTiles(rows, latest);
    drawRequests(rows, ts);
    drawStatus(rows, ts);
    drawHeatmap(rows);
    drawOccupancy(rows, ts);
    drawBackends(ts);
    // For people and tests alike: how many seconds carry traffic, and the busiest one.
    $('chart-requests').dataset.points = String(rows.filter((p) => p.requests > 0).length);
    $('chart-requests').dataset.max = String(Math.max(0, ...rows.map((p) => p.requests)));
  }

  // ---- live stream ----
  function applyStats(s) {
    latest = s;
    lastLive = s.time;
    const w = s.server.workers;
    $('meta').textContent = `${w} worker${w === 1 ? '' : 's'} · up ${duration(s.server.uptimeMs)}`;
    const c = s.cache;
    $('clear').disabled = c === null;
    if (c !== null) {
      capacity = { bytes: c.maxBytes, entries: c.maxEntries };
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
    if (s.backends) {
      if (s.backends.list) setBackendList(s.backends.version, s.backends.list);
      if (s.backends.version !== backends.version) {
        // The list changed and this page missed the frame that carried it: the history frame brings it.
        resync = true;
        stream?.abort();
        return;
      }
      backends.seconds.set(s.backends.t, s.backends.now);
      backends.now = s.backends.now;
      refreshBackendRates();
    }
    redraw();
  }

  function setBackendList(version, routes) {
    backends.version = version;
    backends.routes = routes;
    backends.names = routes.flatMap((r) => r.urls.map((url) => ({ route: r.route, url })));
    backends.seconds.clear();
  }

  /**
   * Add a second to the window, merged into what the page has: after an admin restart the new feed has no
   * samples of the seconds before it started (nor of its first), and what the page saw is still true.
   */
  function mergePoint(p) {
    const known = points.get(p.t);
    if (known === undefined) points.set(p.t, p);
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
      if (payload.latencyBounds) latencyBounds = payload.latencyBounds;
      for (const p of payload.points) mergePoint(p);
      if (payload.backends) {
        setBackendList(payload.backends.version, payload.backends.list);
        for (const s of payload.backends.seconds) backends.seconds.set(s.t, s);
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
      }
    }
  }

  // ---- tables ----
  /** A table row of `[text, class]` cells. */
  function tableRow(cells) {
    const tr = document.createElement('tr');
    for (const [text, cls, title] of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      td.className = cls;
      if (title) td.title = title;
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

  function button(text, title, onClick, cls = 'small') {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = cls;
    b.textContent = text;
    b.title = title;
    b.setAttribute('aria-label', title);
    b.addEventListener('click', onClick);
    return b;
  }

  // ---- cache entries ----
  const entriesView = { sort: 'hits', q: '', offset: 0, total: 0 };

  /**
   * An entry's host as an operator reads it: a key that starts with "/" was stored without its host (no
   * `[static.hosts]`) and answers every host; the host recorded is only the first one that asked.
   */
  function entryHost(entry) {
    if (entry.key.startsWith('/'))
      return ['any host', 'host any', `stored for any host (first asked as ${entry.host})`];
    return [entry.host || '–', 'host', entry.host];
  }

  function entryRow(entry) {
    const source = entry.file !== null ? 'file' : 'proxied';
    const tr = tableRow([
      entryHost(entry),
      [entry.path, 'path', entry.key],
      [bytes(entry.size), 'num'],
      [count(entry.hits), 'num'],
      [duration(entry.ageMs), 'num'],
      [entry.expiresInMs === null ? 'never' : duration(entry.expiresInMs), 'num'],
      [source, 'source', entry.file ?? undefined],
    ]);
    tr.dataset.host = entry.host;
    tr.dataset.path = entry.path;
    tr.dataset.source = source;
    const td = document.createElement('td');
    td.className = 'actions';
    td.append(
      button('Purge', `Purge ${entry.host}${entry.path}`, () =>
        purge({ path: entry.path, host: entry.host }),
      ),
    );
    tr.append(td);
    return tr;
  }

  async function loadEntries() {
    if (!cacheOn) return;
    const body = $('entries');
    const { sort, q, offset } = entriesView;
    const query = new URLSearchParams({ sort, limit: String(PAGE_SIZE), offset: String(offset) });
    if (q) query.set('q', q);
    try {
      const result = await api('GET', `/api/cache/entries?${query}`);
      // A search typed while this one ran: its own load draws the table.
      if (q !== entriesView.q || sort !== entriesView.sort || offset !== entriesView.offset) return;
      entriesView.total = result.total;
      body.replaceChildren(...result.entries.map(entryRow));
      body.dataset.count = String(result.entries.length);
      if (result.entries.length === 0)
        messageRow(body, 8, q ? `Nothing matches “${q}”.` : 'The cache is empty.');
      const first = result.entries.length === 0 ? 0 : offset + 1;
      $('page-info').textContent =
        `${count(first)}–${count(offset + result.entries.length)} of ${count(result.total)}`;
      $('page-prev').disabled = offset === 0;
      $('page-next').disabled = offset + PAGE_SIZE >= result.total;
    } catch (error) {
      // While the admin is unreachable the rows stay, faded with the rest (see setConnection).
      if ($('conn').dataset.state === 'down') return;
      messageRow(body, 8, error.message);
      body.dataset.count = '0';
    }
  }

  function status(text) {
    $('action-status').textContent = text;
  }

  /** Purge with a filter `{ path | prefix | tag, host? }` (see DELETE /api/cache). */
  async function purge(filter) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(filter)) if (value) query.set(name, value);
    const what = filter.tag
      ? `tag ${filter.tag}`
      : `${filter.host ?? ''}${filter.path ?? `${filter.prefix}*`}`;
    try {
      const result = await api('DELETE', `/api/cache?${query}`);
      status(`Purged ${what}: ${count(result.removed)} entries, ${bytes(result.bytes)}.`);
    } catch (error) {
      status(`Purge of ${what} failed: ${error.message}`);
    }
    loadEntries();
  }

  function setSort(next) {
    entriesView.sort = next;
    entriesView.offset = 0;
    for (const b of document.querySelectorAll('[data-sort]')) {
      b.classList.toggle('on', b.dataset.sort === next);
      b.setAttribute('aria-pressed', String(b.dataset.sort === next));
    }
    loadEntries();
  }

  // ---- clear, with a typed confirmation ----
  const CONFIRM_WORD = 'clear';
  function confirmClear() {
    $('confirm-input').value = '';
    $('confirm-ok').disabled = true;
    $('confirm-hint').textContent = '';
    $('confirm').showModal();
    // Focus on the empty field: Enter there does nothing until the word is typed.
    $('confirm-input').focus();
  }

  async function clearCache() {
    $('confirm').close();
    try {
      const result = await api('DELETE', '/api/cache');
      status(`Cache cleared: ${count(result.removed)} entries, ${bytes(result.bytes)} removed.`);
    } catch (error) {
      status(`Clear failed: ${error.message}`);
    }
    entriesView.offset = 0;
    loadEntries();
  }

  // ---- proxy backends ----
  /** The last backends answer, to redraw the live rates without asking again. */
  let backendRoutes = [];

  function liveRates(route, url) {
    const i = backends.names.findIndex((n) => n.route === route && n.url === url);
    if (i === -1 || !backends.now) return null;
    return { r: backends.now.r[i], e: backends.now.e[i], l: backends.now.l[i] };
  }

  function backendRow(route, backend) {
    // Patterns as written: a RegExp's source escapes "/".
    const where = `${route.host ? `${route.host} ` : ''}${route.match.join(' ').replaceAll('\\/', '/')}`;
    const live = liveRates(route.route, backend.url);
    const latency = live ? live.l : backend.latencyEwmaMs;
    const tr = tableRow([
      [where, 'path'],
      [backend.url, 'path'],
      [backend.state, `state ${backend.state}`],
      [live ? rate(live.r) : '–', 'num'],
      [live ? rate(live.e) : '–', 'num'],
      [latency > 0 ? `${latency.toFixed(1)} ms` : '–', 'num'],
      [count(backend.inFlight), 'num'],
      [count(backend.requests), 'num'],
      [count(backend.failures), 'num'],
      [backend.lastError ?? '', 'error-text'],
    ]);
    tr.dataset.url = backend.url;
    tr.dataset.route = String(route.route);
    tr.dataset.state = backend.state;
    tr.dataset.admin = backend.admin ?? 'enabled';
    tr.dataset.requests = String(backend.requests);
    const td = document.createElement('td');
    td.className = 'actions';
    const act = (action) => () => backendAction(action, route.route, backend.url);
    // Drain and disable while it takes traffic, enable once an operator took it out.
    if ((backend.admin ?? 'enabled') === 'enabled') {
      td.append(button('Drain', `Drain ${backend.url} (route ${route.route})`, act('drain')));
      td.append(button('Disable', `Disable ${backend.url} (route ${route.route})`, act('disable')));
    } else td.append(button('Enable', `Enable ${backend.url} (route ${route.route})`, act('enable')));
    tr.append(td);
    return tr;
  }

  function drawBackendTable() {
    const body = $('backends');
    const rows = backendRoutes.flatMap((route) => route.backends.map((b) => backendRow(route, b)));
    // Keep keyboard focus on the same control across the redraw (the table is rebuilt every few seconds).
    const focused = document.activeElement?.closest?.('#backends tr');
    const focusKey = focused ? `${focused.dataset.route} ${focused.dataset.url}` : null;
    const focusLabel = document.activeElement?.getAttribute?.('aria-label')?.split(' ')[0];
    body.replaceChildren(...rows);
    body.dataset.count = String(rows.length);
    if (focusKey) {
      const row = rows.find((r) => `${r.dataset.route} ${r.dataset.url}` === focusKey);
      const again = [...(row?.querySelectorAll('button') ?? [])].find((b) => b.textContent === focusLabel);
      (again ?? row?.querySelector('button'))?.focus();
    }
  }

  /** New live rates: redraw the rate cells only (a full redraw each second would fight the mouse). */
  function refreshBackendRates() {
    for (const tr of $('backends').rows) {
      if (!tr.dataset.url) continue;
      const live = liveRates(Number(tr.dataset.route), tr.dataset.url);
      if (!live) continue;
      tr.cells[3].textContent = rate(live.r);
      tr.cells[4].textContent = rate(live.e);
      tr.cells[5].textContent = live.l > 0 ? `${live.l.toFixed(1)} ms` : '–';
    }
  }

  async function loadBackends() {
    if (!proxyOn) return;
    try {
      backendRoutes = (await api('GET', '/api/proxy/backends')).routes;
      drawBackendTable();
    } catch (error) {
      if ($('conn').dataset.state === 'down') return;
      messageRow($('backends'), 11, error.message);
      $('backends').dataset.count = '0';
    }
  }

  async function backendAction(action, route, url) {
    const query = new URLSearchParams({ url, route: String(route) });
    try {
      const result = await api('POST', `/api/proxy/backends/${action}?${query}`);
      const change = result.backends[0];
      $('backend-status').textContent =
        `${url} (route ${route}): ${change ? `${change.from} → ${change.to}` : action}` +
        (result.inFlight > 0 ? `, ${count(result.inFlight)} requests still in flight` : '');
    } catch (error) {
      $('backend-status').textContent = `${action} ${url} failed: ${error.message}`;
    }
    loadBackends();
  }

  // ---- configuration ----
  async function loadConfig() {
    try {
      $('config').textContent = JSON.stringify(await api('GET', '/api/config'), null, 2);
    } catch (error) {
      $('config').textContent = error.message;
    }
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

  // ---- wiring ----
  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    token = $('token-input').value.trim();
    sessionStorage.setItem('tamarin-admin-token', token);
    if (stream) stream.abort();
    stream = null;
    start();
  });
  for (const b of document.querySelectorAll('[data-sort]')) {
    b.addEventListener('click', () => setSort(b.dataset.sort));
  }
  let searchTimer = null;
  $('entries-search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    // Wait for a pause in typing: one search per word, not per key.
    searchTimer = setTimeout(() => {
      entriesView.q = $('entries-search').value.trim();
      entriesView.offset = 0;
      loadEntries();
    }, 250);
  });
  $('page-prev').addEventListener('click', () => {
    entriesView.offset = Math.max(0, entriesView.offset - PAGE_SIZE);
    loadEntries();
  });
  $('page-next').addEventListener('click', () => {
    entriesView.offset += PAGE_SIZE;
    loadEntries();
  });
  $('purge-kind').addEventListener('change', () => {
    const kind = $('purge-kind').value;
    // Tags name proxied responses whatever their host: no host field for them.
    $('purge-host-label').hidden = kind === 'tag';
    $('purge-value').placeholder = { path: '/img/logo.png', prefix: '/img/', tag: 'product-42' }[kind];
  });
  $('purge-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const kind = $('purge-kind').value;
    const value = $('purge-value').value.trim();
    const host = kind === 'tag' ? '' : $('purge-host').value.trim();
    if (value === '') return;
    purge({ [kind]: value, host });
  });
  $('clear').addEventListener('click', confirmClear);
  $('confirm-input').addEventListener('input', () => {
    $('confirm-ok').disabled = $('confirm-input').value.trim() !== CONFIRM_WORD;
  });
  const typed = () => $('confirm-input').value.trim() === CONFIRM_WORD;
  const hint = () => {
    $('confirm-hint').textContent = `Type “${CONFIRM_WORD}” first, or press Escape to cancel.`;
  };
  // With the button disabled the browser does not submit on Enter; say what is missing instead.
  $('confirm-input').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !typed()) {
      event.preventDefault();
      hint();
    }
  });
  $('confirm-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (typed()) clearCache();
    else hint();
  });
  $('confirm-cancel').addEventListener('click', () => $('confirm').close());
  for (const b of document.querySelectorAll('[data-metric]')) {
    b.addEventListener('click', () => {
      backendMetric = b.dataset.metric;
      for (const other of document.querySelectorAll('[data-metric]')) {
        other.classList.toggle('on', other === b);
        other.setAttribute('aria-pressed', String(other === b));
      }
      redraw();
    });
  }
  // Light or dark follows the system, also while the page is open.
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    readColors();
    redraw();
  });
  new ResizeObserver(() => latest && drawHeatmap(windowRows())).observe($('chart-latency'));

  readColors();
  charts.requests = chart('chart-requests');
  charts.status = chart('chart-status');
  charts.occupancy = chart('chart-occupancy');
  charts.backends = chart('chart-backends');
  setInterval(() => {
    if (document.hidden || !stream) return;
    loadEntries();
    loadBackends();
  }, 3000);
  start();
})();

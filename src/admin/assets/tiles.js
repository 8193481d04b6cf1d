// The top row: each figure now (or over the last minute), a line of context under it and a sparkline of
// the last two minutes.
import { bytes, count, percent, rate, seconds, sum } from './format.js';
import { quantiles, SPARK_SECONDS, sparkline } from './plots.js';
import { $, state } from './state.js';

/** Seconds behind the "last minute" figures. */
const RECENT_SECONDS = 60;

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

export function drawTiles(rows, snapshot) {
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
      io.in !== undefined ? `in ${bytes(io.in / Math.max(1, recent.length))}/s · last minute` : 'last minute',
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
  } else tile('k-offload', '–', null, c === null ? 'no cache plugin' : 'not reported by this server', []);

  const [p50, p99] = quantiles(recent, state.latencyBounds, [0.5, 0.99]);
  tile(
    'k-latency',
    `${seconds(p50)} / ${seconds(p99)}`,
    p99 === null ? null : p99 === Infinity ? 'Infinity' : p99,
    'last minute',
    spark
      .map((p) => (p.lat ? quantiles([p], state.latencyBounds, [0.99])[0] : null))
      .map((v) => (v === Infinity ? null : v)),
  );
  tile(
    'k-connections',
    count(snapshot.server.connections),
    snapshot.server.connections,
    `${snapshot.server.workers} worker${snapshot.server.workers === 1 ? '' : 's'}`,
    spark.map((p) => p.conn ?? null),
  );
}

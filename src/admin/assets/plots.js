// Drawing helpers of the dashboard, independent of what it draws: colours from the stylesheet, uPlot
// charts that can change their series, sparklines, colour ramps and histogram quantiles.
import { clockTime, sum } from './format.js';
import { $ } from './state.js';

/** Seconds behind each sparkline. */
export const SPARK_SECONDS = 120;

/** The stylesheet's colours (custom properties), so that light and dark mode need nothing here. */
export const colors = {};
export function readColors() {
  const style = getComputedStyle(document.documentElement);
  const names = ['ink', 'muted', 'line', 'grid', 'card', 'accent', 'hit', 'miss', 'pass', 'stale', 'total'];
  names.push('s1xx', 's2xx', 's3xx', 's4xx', 's5xx', 'heat-low', 'heat-high');
  for (const n of names) colors[n] = style.getPropertyValue(`--${n}`).trim();
}
/** Lines of the per-backend chart (six at most). */
export const BACKEND_COLORS = ['#3b6fd8', '#d9822b', '#23844b', '#c93c3c', '#7c4dbd', '#0f9aa8'];

/** The seconds every chart spans: the whole window, also where a series has no values yet. */
let xRange = [0, 1];
export function setXRange(from, to) {
  xRange = [from, to];
}

/**
 * A uPlot chart whose series can change (outcomes the server starts reporting, the busiest backends):
 * rebuilt when the series' labels or the colour scheme change, else only fed new data.
 */
export function chart(id, height = 220) {
  const el = $(id);
  let plot = null;
  let shape = '';
  new ResizeObserver(() => plot?.setSize({ width: Math.max(200, el.clientWidth), height })).observe(el);
  return {
    /** `spec`: { series, scales, axes, data, variant } with data[0] the seconds; a new variant rebuilds. */
    draw(spec) {
      const key = JSON.stringify([spec.series.map((s) => s.label), colors.ink, spec.variant]);
      if (plot === null || key !== shape) {
        plot?.destroy();
        shape = key;
        const axis = {
          stroke: colors.muted,
          grid: { stroke: colors.grid },
          ticks: { stroke: colors.grid },
        };
        // The time axis as clock times only: uPlot's default puts a date under the first tick, which
        // collides with the next one in a chart half a laptop wide.
        const time = { space: 70, values: (_u, ticks) => ticks.map((t) => clockTime(t * 1000)) };
        const axes = (spec.axes || [{}, { size: 60 }]).map((a, i) => ({
          ...axis,
          ...(i === 0 ? time : {}),
          ...a,
        }));
        // uPlot is a classic script loaded before the modules (index.html): a global, not an import.
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

/** Draw `values` (oldest first, null = unknown) as a sparkline in `svg`. */
export function sparkline(svg, values) {
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

export function parseColor(text) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(text);
  return m ? [1, 2, 3].map((i) => Number.parseInt(m[i], 16)) : [128, 128, 128];
}
export function mix(a, b, f) {
  return `rgb(${a.map((v, i) => Math.round(v + (b[i] - v) * f)).join(' ')})`;
}

/**
 * Latency quantiles over `rows`' summed buckets, interpolated inside the bucket (as Prometheus'
 * histogram_quantile does); Infinity when it falls in the +Inf bucket, null without responses.
 */
export function quantiles(rows, bounds, qs) {
  const counts = new Array(bounds.length + 1).fill(0);
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
        if (i >= bounds.length) return Infinity;
        const lower = i === 0 ? 0 : bounds[i - 1];
        return lower + (bounds[i] - lower) * ((rank - seen) / counts[i]);
      }
      seen += counts[i];
    }
    return Infinity;
  });
}

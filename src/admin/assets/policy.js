// The eviction policy's choices: what it runs now with its estimates, and its choices over the window
// (the candidate it ran, W-TinyLFU's window share). The stream sends the policy's state only when it
// changed and the history frame its changes over the window (src/admin/live.ts), so the page keeps a
// list of changes, not a sample per second.
import { clock, count, percent } from './format.js';
import { BACKEND_COLORS, chart, colors } from './plots.js';
import { $, WINDOW_SECONDS } from './state.js';

const policy = {
  /** The state now (`PolicyState`), null when the cache's policy chooses nothing. */
  now: null,
  /** Changes of `{ t, running, window?, switches? }`, oldest first. */
  changes: [],
};
let windowChart = null;

/** The history frame: the state and the changes over the window (`null`: nothing to show). */
export function setPolicyHistory(history) {
  policy.now = history?.now ?? null;
  policy.changes = history?.changes ?? [];
}

/** A stats frame's `policy` (present only when it changed), filed under the frame's newest second. */
export function updatePolicy(now, t) {
  policy.now = now;
  const last = policy.changes[policy.changes.length - 1];
  if (last === undefined || last.running !== now.running || last.window !== now.window) {
    const change = { t, running: now.running };
    if (now.window !== undefined) change.window = now.window;
    if (now.switches !== undefined) change.switches = now.switches;
    policy.changes.push(change);
  }
}

/** Candidates get the backend palette's colours in the order they first appear (stable within a page). */
const candidateColors = new Map();
function colorOf(name) {
  if (!candidateColors.has(name))
    candidateColors.set(name, BACKEND_COLORS[candidateColors.size % BACKEND_COLORS.length]);
  return candidateColors.get(name);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The adaptive policy's sample rate: none until it sized its miniature caches, else a share or "1 in N". */
function sampled(rate) {
  if (rate === 0) return 'not yet';
  return rate < 0.01 ? `1 in ${count(Math.round(1 / rate))}` : percent(rate);
}

/** The figures now: running policy, window, switches, sample rate. */
function drawNow(now) {
  const list = $('policy-now');
  const items = [['Running', now.running]];
  if (now.window !== undefined) items.push(['Window', percent(now.window)]);
  if (now.switches !== undefined) items.push(['Switches', count(now.switches)]);
  if (now.sampleRate !== undefined) items.push(['Sampled', sampled(now.sampleRate)]);
  list.replaceChildren(...items.flatMap(([k, v]) => [el('dt', '', k), el('dd', '', v)]));
  list.dataset.running = now.running;
}

/** Each candidate's estimated hit ratio as a bar, the running one marked. */
function drawEstimates(now) {
  const box = $('policy-estimates');
  const estimates = Object.entries(now.estimates ?? {}).sort((a, b) => b[1] - a[1]);
  box.hidden = estimates.length === 0;
  box.replaceChildren(
    ...estimates.map(([name, ratio]) => {
      const row = el('div', name === now.running ? 'estimate running' : 'estimate');
      row.dataset.candidate = name;
      const bar = el('span', 'meter');
      const fill = el('span', 'fill');
      fill.style.width = `${Math.max(0, Math.min(1, ratio)) * 100}%`;
      fill.style.background = colorOf(name);
      bar.append(fill);
      row.append(
        el('span', 'name', name === now.running ? `${name} (running)` : name),
        bar,
        el('span', 'num', percent(ratio)),
      );
      return row;
    }),
  );
}

/** The candidate run over the window as coloured segments, each titled with its time span. */
function drawTimeline(from, to) {
  const strip = $('policy-timeline');
  const span = to - from + 1;
  const segments = [];
  policy.changes.forEach((change, i) => {
    const start = Math.max(from, change.t);
    const end = Math.min(to + 1, policy.changes[i + 1]?.t ?? to + 1);
    if (end <= start) return;
    // Window changes within one candidate continue its segment.
    const last = segments[segments.length - 1];
    if (last && last.running === change.running && last.end === start) last.end = end;
    else segments.push({ running: change.running, start, end });
  });
  // Before the admin's first sample (it started within the window) what ran is not known.
  const known = segments[0]?.start ?? to + 1;
  const unknown = [];
  if (known > from) {
    const gap = el('span', 'segment unknown');
    gap.style.width = `${((known - from) / span) * 100}%`;
    gap.title = `not known before ${clock(known * 1000)} (the admin started then)`;
    unknown.push(gap);
  }
  strip.replaceChildren(
    ...unknown,
    ...segments.map((s) => {
      const seg = el('span', 'segment', s.running);
      seg.style.width = `${((s.end - s.start) / span) * 100}%`;
      seg.style.background = colorOf(s.running);
      seg.title = `${s.running} from ${clock(s.start * 1000)} to ${clock(s.end * 1000)}`;
      seg.dataset.running = s.running;
      return seg;
    }),
  );
  strip.dataset.segments = String(segments.length);
  strip.dataset.changes = String(policy.changes.filter((c) => c.t >= from).length);
  $('policy-from').textContent = clock(from * 1000);
  $('policy-to').textContent = clock(to * 1000);
}

/** W-TinyLFU's window share over the window, a step per change (only while the running policy has one). */
function drawWindow(ts) {
  const card = $('policy-window');
  const shown = policy.changes.some((c) => c.window !== undefined);
  card.hidden = !shown;
  if (!shown) return;
  windowChart ??= chart('chart-window', 140);
  let i = -1;
  const values = ts.map((t) => {
    while (i + 1 < policy.changes.length && policy.changes[i + 1].t <= t) i++;
    return i === -1 ? null : (policy.changes[i].window ?? null);
  });
  windowChart.draw({
    series: [{ label: 'Window', stroke: colors.accent, width: 2, value: (_u, v) => percent(v) }],
    axes: [{}, { size: 60, values: (_u, ticks) => ticks.map((v) => percent(v)) }],
    scales: { y: { range: (_u, _min, max) => [0, Math.max(0.05, max * 1.2)] } },
    data: [ts, values],
  });
}

/** Show the card while a policy reports its choices (the adaptive policy, W-TinyLFU). */
export function drawPolicy(ts, newest) {
  const card = $('policy-card');
  card.hidden = policy.now === null;
  if (policy.now === null) return;
  // Keep the change the window starts with, drop older ones.
  const from = newest - WINDOW_SECONDS + 1;
  while (policy.changes.length > 1 && policy.changes[1].t <= from) policy.changes.shift();
  drawNow(policy.now);
  drawEstimates(policy.now);
  drawTimeline(from, newest);
  drawWindow(ts);
}

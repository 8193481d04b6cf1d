// How the dashboard writes numbers, sizes, durations and latencies: one place, so that every tile,
// table and legend says them alike.

export const count = (n) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
export const rate = (n) => {
  if (n === null || n === undefined) return '–';
  if (Number.isInteger(n) || n >= 100) return count(n);
  return n >= 10 ? n.toFixed(1) : n.toFixed(2);
};
export const bytes = (n) => {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
};
export const percent = (r) =>
  r === null || r === undefined || Number.isNaN(r) ? '–' : `${(r * 100).toFixed(1)} %`;
/** A latency: three significant digits at most, in the unit that keeps it short. */
export const seconds = (s) => {
  if (s === null || s === undefined) return '–';
  if (s === Infinity) return '> 10 s';
  const short = (n) => String(Number(n.toPrecision(n < 1 ? 2 : 3)));
  if (s < 0.001) return `${short(s * 1e6)} µs`;
  if (s < 1) return `${short(s * 1000)} ms`;
  return `${short(s)} s`;
};
export const duration = (ms) => {
  if (ms === null || ms === undefined) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
};
export const clock = (ms) => new Date(ms).toLocaleTimeString('en-GB');
export const sum = (values) => values.reduce((a, b) => a + b, 0);
/** Hours and minutes, with seconds only when they are not :00 (chart ticks). */
export const clockTime = (ms) => {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return d.getSeconds() === 0 ? hm : `${hm}:${pad(d.getSeconds())}`;
};

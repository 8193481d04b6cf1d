/**
 * Statistics and report formatting for the benchmark: medians over rounds, ratios against a reference
 * contender, and the markdown table the lead pastes into the README. Pure functions, unit-tested.
 */

/** Median of a list of numbers; `undefined` for an empty list. Even counts average the middle two. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length % 2 === 1) return sorted[mid];
  return (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Relative spread of the rounds, (max - min) / median: a quick noise indicator for the table. */
export function spread(values: readonly number[]): number | undefined {
  const mid = median(values);
  if (mid === undefined || mid === 0) return undefined;
  return (Math.max(...values) - Math.min(...values)) / mid;
}

/** `value / reference`, or `undefined` when either is missing or the reference is zero. */
export function ratio(value: number | undefined, reference: number | undefined): number | undefined {
  if (value === undefined || reference === undefined || reference === 0) return undefined;
  return value / reference;
}

/** Formats a ratio as "1.23x" (two decimals; "—" when missing). */
export function formatRatio(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '—' : `${value.toFixed(2)}x`;
}

/** Formats a request rate with thousands separators, no decimals ("—" when missing). */
export function formatRate(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  return Math.round(value)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Formats microseconds with one decimal ("41.3"; "—" when missing). */
export function formatMicros(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(1);
}

/** Formats a byte count with binary units ("1 KiB", "64 KiB", "1 MiB", "1.5 GiB"). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = Number.isInteger(value) ? String(value) : value.toFixed(1);
  return `${text} ${units[unit]}`;
}

/**
 * Picks the reference for ratios: nginx when it has a result, otherwise the best of `peers` (the Node.js
 * contenders that are not Tamarin). Returns the reference's name, or `undefined` when nothing measured.
 */
export function pickReference(
  medians: ReadonlyMap<string, number | undefined>,
  preferred: string,
  peers: readonly string[],
): string | undefined {
  if (medians.get(preferred) !== undefined) return preferred;
  let best: string | undefined;
  let bestValue = -1;
  for (const name of peers) {
    const value = medians.get(name);
    if (value !== undefined && value > bestValue) {
      best = name;
      bestValue = value;
    }
  }
  return best;
}

/** Renders a markdown table; cells are escaped for `|`. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const escapeCell = (cell: string) => cell.replaceAll('|', '\\|');
  const lines = [
    `| ${header.map(escapeCell).join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
  ];
  for (const row of rows) lines.push(`| ${row.map(escapeCell).join(' | ')} |`);
  return lines.join('\n');
}

/** One target from the issues, checked against measured ratios ("≥ 3x best Node peer at 1 KiB"). */
export interface TargetCheck {
  readonly label: string;
  readonly measured: number | undefined;
  readonly goal: number;
  /** `'max'` for an upper bound (memory growth ≤ 1.15x); default `'min'` (a floor). */
  readonly kind?: 'min' | 'max';
}

function verdict(check: TargetCheck): string {
  if (check.measured === undefined) return 'not measured';
  const met = check.kind === 'max' ? check.measured <= check.goal : check.measured >= check.goal;
  return met ? 'met' : 'NOT met';
}

function goalText(check: TargetCheck): string {
  return `${check.kind === 'max' ? '≤' : '≥'} ${check.goal}x`;
}

/** One line per target: "- Tamarin vs best peer (target ≥ 3x): 3.41x — met". */
export function formatTarget(check: TargetCheck): string {
  const measured = check.measured === undefined ? '' : `${formatRatio(check.measured)} — `;
  return `- ${check.label} (target ${goalText(check)}): ${measured}${verdict(check)}`;
}

/** The summary table of every target checked in a run. */
export function targetTable(checks: readonly TargetCheck[]): string {
  return markdownTable(
    ['target', 'goal', 'measured', 'verdict'],
    checks.map((check) => [check.label, goalText(check), formatRatio(check.measured), verdict(check)]),
  );
}

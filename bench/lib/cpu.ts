/**
 * Per-core CPU use during a run, from /proc/stat. A server core below ~90% busy means the server was not
 * the bottleneck (the load generator or the origin on the other core was), so its ratio understates it.
 */
import { readFileSync } from 'node:fs';

/** Cumulative jiffies of one core. */
export interface CoreTimes {
  readonly idle: number;
  readonly total: number;
}

/** Parses the `cpuN` lines of /proc/stat (idle = idle + iowait). */
export function parseCoreTimes(stat: string): Map<number, CoreTimes> {
  const cores = new Map<number, CoreTimes>();
  for (const match of stat.matchAll(/^cpu(\d+)\s+([\d ]+)$/gm)) {
    const fields = match[2]!.trim().split(/\s+/).map(Number);
    const total = fields.reduce((sum, n) => sum + n, 0);
    cores.set(Number(match[1]), { idle: (fields[3] ?? 0) + (fields[4] ?? 0), total });
  }
  return cores;
}

/** Reads /proc/stat now (an empty map where it does not exist). */
export function readCoreTimes(): Map<number, CoreTimes> {
  try {
    return parseCoreTimes(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return new Map();
  }
}

/** Busy share (0..1) of `core` between two readings; `undefined` when unknown. */
export function coreBusy(
  before: ReadonlyMap<number, CoreTimes>,
  after: ReadonlyMap<number, CoreTimes>,
  core: number,
): number | undefined {
  const a = before.get(core);
  const b = after.get(core);
  if (!a || !b || b.total <= a.total) return undefined;
  return 1 - (b.idle - a.idle) / (b.total - a.total);
}

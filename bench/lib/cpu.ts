/**
 * Per-core CPU use during a run, from /proc/stat. A server core below ~90% busy means the server was not
 * the bottleneck (the load generator or the origin on the other core was), so its ratio understates it.
 * And the CPU time of the server processes themselves, for the CPU cost per request.
 */
import { readdirSync, readFileSync } from 'node:fs';

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

/** Sum of the first field (ns on CPU) of `/proc/<pid>/task/<tid>/schedstat` lines, one line per thread. */
export function sumSchedstat(lines: readonly string[]): number {
  let total = 0;
  for (const line of lines) {
    const ns = Number(line.trim().split(/\s+/)[0]);
    if (Number.isFinite(ns)) total += ns;
  }
  return total;
}

/**
 * CPU time in ns used so far by every thread of `pids` (user + system, from the scheduler's own
 * accounting: nanoseconds, not 10 ms ticks); `undefined` when /proc has no schedstat (not Linux, or
 * schedstats off). Threads that ended between two readings take their time with them, so the difference
 * of two readings can only undercount, and only then.
 */
export function processCpuNs(pids: readonly number[]): number | undefined {
  const lines: string[] = [];
  for (const pid of pids) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // process gone
    }
    for (const tid of tasks) {
      try {
        lines.push(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8'));
      } catch {
        // thread gone
      }
    }
  }
  return lines.length === 0 ? undefined : sumSchedstat(lines);
}

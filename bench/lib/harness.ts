/**
 * The measuring loop shared by every throughput scenario: start each contender on a free port (a failure
 * marks it "not available" and the run goes on), check each URL returns the expected bytes, warm up, then
 * alternate contenders round-robin for N rounds and keep every round's req/s. Rendering turns the rounds
 * into medians and ratios against a reference contender.
 */
import { coreBusy, processCpuNs, readCoreTimes } from './cpu.ts';
import { type LoadResult, type LoadTool, runLoad } from './load.ts';
import {
  freePort,
  httpGet,
  LOAD_CORE,
  processTree,
  SERVER_CORE,
  type ServerProcess,
  stopProcess,
  treeRss,
} from './procs.ts';
import {
  formatMicros,
  formatRate,
  formatRatio,
  markdownTable,
  median,
  pickReference,
  ratio,
  spread,
  type TargetCheck,
} from './stats.ts';

/** Shared settings of a run. */
export interface BenchContext {
  readonly repoRoot: string;
  /** Temp dir for this run (fixtures, configs, nginx prefix); removed at the end. */
  readonly tmp: string;
  readonly tool: LoadTool;
  readonly rounds: number;
  readonly duration: number;
  readonly warmup: number;
  readonly connections: number;
  /** Core of the proxy scenarios' origin. */
  readonly backendCore: number;
  /** Which origin the proxy scenarios use (see `BenchOptions.origin`). */
  readonly origin: 'auto' | 'nginx' | 'node';
  log(line: string): void;
}

/** A scenario's section of the report. */
export interface Section {
  readonly title: string;
  readonly body: string;
  /** The issues' targets this scenario checks; listed under the section and in the summary. */
  readonly targets?: readonly TargetCheck[];
}

/** A URL path measured in a scenario and what a correct response carries. */
export interface BenchTarget {
  /** Column label ("1 KiB"). */
  readonly label: string;
  readonly path: string;
  /** Expected body length of a 200 response. */
  readonly bytes: number;
  /**
   * A wrk Lua script that picks each request (warm-up and rounds); `path` is then only what the
   * correctness check fetches.
   */
  readonly script?: string;
}

/** A server in a scenario. `start` gets a free port and returns the processes to stop afterwards. */
export interface Contender {
  readonly name: string;
  readonly role: 'tamarin' | 'reference' | 'peer';
  /** Why it is not run (e.g. "nginx not installed"), decided before starting. */
  readonly unavailable?: string;
  start(port: number): Promise<ServerProcess[]>;
}

/** Measurements of one contender on one target. */
export interface Cell {
  readonly rps: number[];
  requests: number;
  /** Non-2xx/3xx responses and socket errors over all measured rounds. */
  errors: number;
  /** Busy share of the server core in each round (0..1). */
  readonly serverBusy: number[];
  /**
   * CPU time of the contender's own processes (all threads and children) per request, in µs, per round:
   * what a request costs the server, whatever rate the load side allowed.
   */
  readonly cpuUs: number[];
  /** p99 latency of each round in ms, when the load tool reported it. */
  readonly p99Ms: number[];
  /** Resident memory of the contender's process tree after each round, in bytes. */
  readonly rss: number[];
  /** Resident memory of the contender's process tree after the warm-up, in bytes. */
  rssWarm?: number;
  /** Why the cell has no numbers (failed check, load tool error). */
  problem?: string;
}

/** The outcome of a scenario's matrix. */
export interface MatrixResult {
  readonly contenders: readonly Contender[];
  readonly targets: readonly BenchTarget[];
  /** Contender name → why it did not run. */
  readonly skipped: Map<string, string>;
  /** `${contender}\u0000${target path}` → cell. */
  readonly cells: Map<string, Cell>;
  /** Contender name → headers of one response per target after warm-up (evidence of cache hits). */
  readonly evidence: Map<string, string>;
}

/** Key of a cell in `MatrixResult.cells`. */
export const cellKey = (contender: string, path: string) => `${contender}\u0000${path}`;

/** The cell of a contender on a target, `undefined` when it was not measured at all. */
export function cellOf(result: MatrixResult, contender: string, path: string): Cell | undefined {
  return result.cells.get(cellKey(contender, path));
}

/** Median req/s of a contender on a target, `undefined` when it was not measured. */
export function cellMedian(result: MatrixResult, contender: string, path: string): number | undefined {
  const cell = result.cells.get(cellKey(contender, path));
  return cell && !cell.problem ? median(cell.rps) : undefined;
}

const firstLine = (error: unknown) =>
  String((error as Error)?.message ?? error)
    .split('\n')[0]!
    .slice(0, 200);

/** Median CPU µs per request of a contender on a target, `undefined` when it was not measured. */
export function cellCpuMedian(result: MatrixResult, contender: string, path: string): number | undefined {
  const cell = result.cells.get(cellKey(contender, path));
  return cell && !cell.problem ? median(cell.cpuUs) : undefined;
}

/** Resident memory of every process tree of a contender, in bytes. */
function treeRssOf(procs: readonly ServerProcess[]): number {
  return procs.reduce((sum, proc) => sum + (proc.child.pid === undefined ? 0 : treeRss(proc.child.pid)), 0);
}

/** Headers that show whether a response came from a cache. */
const EVIDENCE_HEADERS = ['cache-status', 'x-cache', 'x-cache-status', 'age', 'x-varnish'];

/** Runs the matrix: start, check, warm up, alternate; always stops what it started. */
export async function runMatrix(
  ctx: BenchContext,
  contenders: readonly Contender[],
  targets: readonly BenchTarget[],
): Promise<MatrixResult> {
  const result: MatrixResult = {
    contenders,
    targets,
    skipped: new Map(),
    cells: new Map(),
    evidence: new Map(),
  };
  const live: { contender: Contender; port: number; procs: ServerProcess[] }[] = [];
  try {
    for (const contender of contenders) {
      if (contender.unavailable) {
        result.skipped.set(contender.name, contender.unavailable);
        continue;
      }
      const port = await freePort();
      try {
        const procs = await contender.start(port);
        live.push({ contender, port, procs });
        ctx.log(`  started ${contender.name} on :${port}`);
      } catch (error) {
        result.skipped.set(contender.name, `not available: ${firstLine(error)}`);
        ctx.log(`  ${contender.name}: not available (${firstLine(error)})`);
      }
    }
    // Correctness first: a fast 404 is not a result.
    for (const { contender, port, procs } of live) {
      const evidence: string[] = [];
      for (const target of targets) {
        const cell: Cell = {
          rps: [],
          requests: 0,
          errors: 0,
          serverBusy: [],
          cpuUs: [],
          p99Ms: [],
          rss: [],
        };
        result.cells.set(cellKey(contender.name, target.path), cell);
        try {
          const res = await httpGet(`http://127.0.0.1:${port}${target.path}`, 5000);
          if (res.status !== 200 || res.body.length !== target.bytes) {
            cell.problem = `check failed: status ${res.status}, ${res.body.length} bytes (expected 200, ${target.bytes})`;
          }
        } catch (error) {
          cell.problem = `check failed: ${firstLine(error)}`;
        }
        if (cell.problem) {
          ctx.log(`  ${contender.name} ${target.label}: ${cell.problem}`);
          continue;
        }
        // Two more requests even without a warm-up: caches that admit on the second sight now hold it.
        for (let i = 0; i < 2; i++)
          await httpGet(`http://127.0.0.1:${port}${target.path}`, 5000).catch(() => undefined);
        if (ctx.warmup > 0) {
          await runLoad(ctx.tool, {
            url: `http://127.0.0.1:${port}${target.path}`,
            seconds: ctx.warmup,
            connections: ctx.connections,
            script: target.script,
          }).catch(() => undefined);
          cell.rssWarm = treeRssOf(procs);
          const after = await httpGet(`http://127.0.0.1:${port}${target.path}`, 5000).catch(() => undefined);
          const shown = EVIDENCE_HEADERS.filter((h) => after?.headers[h] !== undefined).map(
            (h) => `${h}: ${String(after?.headers[h])}`,
          );
          if (shown.length > 0) evidence.push(`${target.label} → ${shown.join(', ')}`);
        }
      }
      if (evidence.length > 0) result.evidence.set(contender.name, evidence.join('; '));
    }
    for (let round = 0; round < ctx.rounds; round++) {
      for (const target of targets) {
        // Rotate the start so no contender always runs right after the same neighbour.
        for (let i = 0; i < live.length; i++) {
          const { contender, port, procs } = live[(i + round) % live.length]!;
          const cell = result.cells.get(cellKey(contender.name, target.path))!;
          if (cell.problem) continue;
          const dead = procs.find((proc) => proc.hasExited());
          if (dead) {
            // A crash is a result to report, not a zero to average in.
            cell.problem = `exited during the run: ${dead.output().trim().split('\n').pop()?.slice(0, 200) ?? ''}`;
            ctx.log(`  ${contender.name} ${target.label}: ${cell.problem}`);
            continue;
          }
          let load: LoadResult;
          const pids = procs.flatMap((proc) =>
            proc.child.pid === undefined ? [] : processTree(proc.child.pid),
          );
          const cpuBefore = processCpuNs(pids);
          const before = readCoreTimes();
          try {
            load = await runLoad(ctx.tool, {
              url: `http://127.0.0.1:${port}${target.path}`,
              seconds: ctx.duration,
              connections: ctx.connections,
              script: target.script,
            });
          } catch (error) {
            cell.problem = `load failed: ${firstLine(error)}`;
            ctx.log(`  ${contender.name} ${target.label}: ${cell.problem}`);
            continue;
          }
          const after = readCoreTimes();
          const cpuAfter = processCpuNs(pids);
          if (procs.some((proc) => proc.hasExited())) {
            cell.problem = 'exited during the run';
            ctx.log(`  ${contender.name} ${target.label}: ${cell.problem}`);
            continue;
          }
          const serverBusy = coreBusy(before, after, SERVER_CORE);
          const loadBusy = coreBusy(before, after, LOAD_CORE);
          if (serverBusy !== undefined) cell.serverBusy.push(serverBusy);
          const cpuUs =
            cpuBefore !== undefined && cpuAfter !== undefined && load.requests > 0
              ? (cpuAfter - cpuBefore) / 1000 / load.requests
              : undefined;
          if (cpuUs !== undefined) cell.cpuUs.push(cpuUs);
          cell.rps.push(load.rps);
          if (load.p99Ms !== undefined) cell.p99Ms.push(load.p99Ms);
          cell.rss.push(treeRssOf(procs));
          cell.requests += load.requests;
          cell.errors += load.non2xx + load.socketErrors;
          const busy = (share: number | undefined) =>
            share === undefined ? '?' : `${Math.round(share * 100)}%`;
          ctx.log(
            `  round ${round + 1}/${ctx.rounds} ${target.label.padEnd(7)} ${contender.name.padEnd(22)} ${formatRate(load.rps).padStart(9)} req/s` +
              `  cores ${busy(serverBusy)}/${busy(loadBusy)}` +
              (cpuUs !== undefined ? `  ${cpuUs.toFixed(1)} µs CPU/req` : '') +
              (load.non2xx + load.socketErrors > 0
                ? `  (${load.non2xx} non-2xx, ${load.socketErrors} socket errors)`
                : ''),
          );
        }
      }
    }
  } finally {
    await Promise.all(live.flatMap(({ procs }) => procs.map((proc) => stopProcess(proc))));
  }
  return result;
}

/** Options of {@link renderMatrix}. */
export interface RenderOptions {
  /**
   * Add per target the median CPU µs per request of the server's processes and the ratio by CPU
   * (reference's µs / contender's µs: above 1 means cheaper per request than the reference).
   * @default false
   */
  readonly cpu?: boolean;
}

/**
 * Renders a matrix: one row per contender, per target a "median req/s" and a "× reference" column (and
 * with `cpu`, the CPU cost per request and the ratio by it). The reference is `preferred` (nginx) where
 * measured, else the best `peer` contender; the footnote names it.
 */
export function renderMatrix(result: MatrixResult, preferred: string, options: RenderOptions = {}): string {
  const peers = result.contenders.filter((c) => c.role === 'peer').map((c) => c.name);
  const header = ['server'];
  const references: (string | undefined)[] = [];
  for (const target of result.targets) {
    const medians = new Map(result.contenders.map((c) => [c.name, cellMedian(result, c.name, target.path)]));
    const reference = pickReference(medians, preferred, peers);
    references.push(reference);
    header.push(`${target.label} req/s`, `${target.label} vs ${reference ?? 'ref'}`);
    if (options.cpu) header.push(`${target.label} CPU µs/req`, `by CPU vs ${reference ?? 'ref'}`);
  }
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const contender of result.contenders) {
    const skipped = result.skipped.get(contender.name);
    if (skipped) {
      notes.push(`- ${contender.name}: skipped (${skipped})`);
      continue;
    }
    const row = [contender.name];
    result.targets.forEach((target, i) => {
      const cell = result.cells.get(cellKey(contender.name, target.path));
      const mid = cellMedian(result, contender.name, target.path);
      if (!cell || mid === undefined) {
        row.push('n/a', '—');
        if (options.cpu) row.push('n/a', '—');
        if (cell?.problem) notes.push(`- ${contender.name} ${target.label}: ${cell.problem}`);
        return;
      }
      const noise = cell.rps.length > 1 ? spread(cell.rps) : undefined;
      const errorShare = cell.requests > 0 ? cell.errors / cell.requests : 0;
      row.push(
        `${formatRate(mid)}${noise !== undefined ? ` ±${Math.round((noise * 100) / 2)}%` : ''}${errorShare > 0.001 ? ' ⚠' : ''}`,
        formatRatio(ratio(mid, cellMedian(result, references[i]!, target.path))),
      );
      if (options.cpu) {
        const cpu = cellCpuMedian(result, contender.name, target.path);
        row.push(
          formatMicros(cpu),
          formatRatio(ratio(cellCpuMedian(result, references[i]!, target.path), cpu)),
        );
      }
      const busy = median(cell.serverBusy);
      if (busy !== undefined && busy < 0.9) {
        notes.push(
          `- ${contender.name} ${target.label}: server core only ${Math.round(busy * 100)}% busy (the load side limited it)`,
        );
      }
      if (errorShare > 0.001) {
        notes.push(`- ⚠ ${contender.name} ${target.label}: ${(errorShare * 100).toFixed(1)}% errors/non-2xx`);
      }
    });
    rows.push(row);
  }
  for (const [name, text] of result.evidence) notes.push(`- ${name} after warm-up: ${text}`);
  return [markdownTable(header, rows), ...(notes.length > 0 ? ['', ...notes] : [])].join('\n');
}

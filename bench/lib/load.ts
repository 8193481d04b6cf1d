/**
 * The load generator: wrk (Debian's /usr/bin/wrk) pinned to its own core, with a parser for its text
 * output; autocannon from devDependencies as the fallback when wrk is missing (much slower: it is a Node.js
 * process itself, so it may saturate before a fast server does — the report says which tool was used).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LOAD_CORE, taskset, trackChild } from './procs.ts';

/** The result of one load run. */
export interface LoadResult {
  /** Requests per second over the run. */
  readonly rps: number;
  readonly requests: number;
  /** Responses with a status outside 2xx/3xx. */
  readonly non2xx: number;
  /** Connect, read, write errors and timeouts together. */
  readonly socketErrors: number;
  /** Median latency in milliseconds, when the tool reported it. */
  readonly p50Ms?: number;
  readonly p99Ms?: number;
}

/** Options of one load run. */
export interface LoadOptions {
  readonly url: string;
  /** Seconds (whole: wrk takes integer seconds). */
  readonly seconds: number;
  /** @default 50 */
  readonly connections?: number;
  /**
   * A wrk Lua script (`-s`) that builds each request, e.g. a random path per request. wrk only: the
   * autocannon fallback rejects it.
   */
  readonly script?: string;
  /** Request header lines sent with every request (`Accept-Encoding: gzip`). wrk only. */
  readonly headers?: readonly string[];
}

/** Which load generator is in use. */
export type LoadTool =
  | { readonly kind: 'wrk'; readonly path: string }
  | { readonly kind: 'autocannon'; readonly path: string };

const WRK_PATH = '/usr/bin/wrk';

/**
 * Finds wrk, else autocannon (the caller prints how to install wrk); `undefined` if neither. `prefer`
 * forces one of them.
 */
export function findLoadTool(repoRoot: string, prefer?: 'wrk' | 'autocannon'): LoadTool | undefined {
  if (prefer !== 'autocannon' && existsSync(WRK_PATH)) return { kind: 'wrk', path: WRK_PATH };
  if (prefer === 'wrk') return undefined;
  const autocannon = join(repoRoot, 'node_modules', '.bin', 'autocannon');
  if (existsSync(autocannon)) return { kind: 'autocannon', path: autocannon };
  return undefined;
}

const TIME_UNITS_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a wrk duration such as "812.00us", "1.99ms" or "1.02s" into milliseconds. */
export function parseWrkTime(text: string): number | undefined {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * TIME_UNITS_MS[match[2]!]!;
}

/** Parses wrk's text report (with or without `--latency`); `undefined` when it has no Requests/sec line. */
export function parseWrkOutput(output: string): LoadResult | undefined {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(output);
  if (!rps) return undefined;
  const requests = /^\s*(\d+) requests in /m.exec(output);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1, 5).reduce((sum, n) => sum + Number(n), 0) : 0;
  const p50 = /^\s+50%\s+(\S+)/m.exec(output);
  const p99 = /^\s+99%\s+(\S+)/m.exec(output);
  return {
    rps: Number(rps[1]),
    requests: requests ? Number(requests[1]) : 0,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors,
    p50Ms: p50 ? parseWrkTime(p50[1]!) : undefined,
    p99Ms: p99 ? parseWrkTime(p99[1]!) : undefined,
  };
}

/** Parses `autocannon --json` output (the last JSON line); `undefined` when it is not there. */
export function parseAutocannonOutput(output: string): LoadResult | undefined {
  const line = output
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.trimStart().startsWith('{'));
  if (!line) return undefined;
  try {
    const json = JSON.parse(line) as {
      requests?: { average?: number; total?: number };
      non2xx?: number;
      errors?: number;
      timeouts?: number;
      latency?: { p50?: number; p99?: number };
    };
    if (typeof json.requests?.average !== 'number') return undefined;
    return {
      rps: json.requests.average,
      requests: json.requests.total ?? 0,
      non2xx: json.non2xx ?? 0,
      socketErrors: (json.errors ?? 0) + (json.timeouts ?? 0),
      p50Ms: json.latency?.p50,
      p99Ms: json.latency?.p99,
    };
  } catch {
    return undefined;
  }
}

/**
 * Runs the load generator once, pinned to the load core. Rejects when the tool fails or its output cannot
 * be parsed; a watchdog kills it if it overruns its duration by 15 s (never hangs).
 */
export function runLoad(tool: LoadTool, options: LoadOptions): Promise<LoadResult> {
  const seconds = Math.max(1, Math.round(options.seconds));
  const connections = options.connections ?? 50;
  if (options.script !== undefined && tool.kind !== 'wrk') {
    return Promise.reject(new Error('this scenario needs wrk (a Lua script picks each request)'));
  }
  if (options.headers !== undefined && options.headers.length > 0 && tool.kind !== 'wrk') {
    return Promise.reject(new Error('this scenario needs wrk (request headers)'));
  }
  const script = options.script === undefined ? [] : ['-s', options.script];
  for (const line of options.headers ?? []) script.push('-H', line);
  const args =
    tool.kind === 'wrk'
      ? ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...script, options.url]
      : ['-c', String(connections), '-d', String(seconds), '-j', options.url];
  const [command, argv] = taskset(LOAD_CORE, tool.path, args);
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const watchdog = setTimeout(() => child.kill('SIGKILL'), (seconds + 15) * 1000);
    child.on('error', (error) => {
      clearTimeout(watchdog);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      const parsed = tool.kind === 'wrk' ? parseWrkOutput(stdout) : parseAutocannonOutput(stdout);
      if (parsed) resolve(parsed);
      else
        reject(
          new Error(
            `${tool.kind} exited (${signal ?? code}) without a result: ${(stderr || stdout).trim().slice(-300)}`,
          ),
        );
    });
  });
}

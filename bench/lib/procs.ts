/**
 * Process management for the benchmark: free ports, CPU pinning with taskset, servers started in their
 * own process group (so a server's children die with it), readiness checks with timeouts, and a registry
 * that kills every process we started on exit, Ctrl-C, SIGTERM or an uncaught error.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';

/** Core for the server under test. */
export const SERVER_CORE = 0;
/** Core for the load generator (and the proxy scenarios' backend, see bench/README.md). */
export const LOAD_CORE = 1;

const TASKSET = '/usr/bin/taskset';
const hasTaskset = existsSync(TASKSET);

/** Wraps a command in `taskset -c <core>` (unchanged when taskset is missing; the report notes it). */
export function taskset(core: number, command: string, args: readonly string[]): [string, string[]] {
  return hasTaskset ? [TASKSET, ['-c', String(core), command, ...args]] : [command, [...args]];
}

/** Whether pinning is in effect. */
export function pinningAvailable(): boolean {
  return hasTaskset;
}

/** A free TCP port on 127.0.0.1 (bound and released; the tiny race is acceptable for a benchmark). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A server process we started. */
export interface ServerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** The last few KiB of stdout+stderr, for error messages. */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  hasExited(): boolean;
}

const running = new Set<ServerProcess>();

/** Starts `command args` pinned to `core` in its own process group; output is kept for diagnostics. */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  options: { core?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ServerProcess {
  const [cmd, argv] = taskset(options.core ?? SERVER_CORE, command, args);
  const child = spawn(cmd, argv, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4096);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (error) => {
      tail += `\n${error.message}`;
      exited = true;
      resolve();
    });
  });
  const proc: ServerProcess = {
    name,
    child,
    output: () => tail,
    exited: exitedPromise,
    hasExited: () => exited,
  };
  running.add(proc);
  void exitedPromise.then(() => running.delete(proc));
  return proc;
}

function signalGroup(proc: ServerProcess, signal: NodeJS.Signals): void {
  const pid = proc.child.pid;
  if (pid === undefined || proc.hasExited()) return;
  try {
    process.kill(-pid, signal); // the whole group: nginx/varnishd/worker children too
  } catch {
    try {
      proc.child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Stops a process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(proc: ServerProcess, graceMs = 3000): Promise<void> {
  if (proc.hasExited()) return;
  signalGroup(proc, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(proc, 'SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
  // Children of the group may outlive the leader for a moment; make sure none stays.
  const pid = proc.child.pid;
  if (pid !== undefined) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // group empty
    }
  }
}

/** Stops every process still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((proc) => stopProcess(proc)));
}

/** Short-lived helpers (the load generator) that must not outlive us either. */
const helpers = new Set<ChildProcess>();
/** Synchronous clean-ups (e.g. removing the temp dir) run on exit and on signals. */
const exitCleanups: (() => void)[] = [];

/** Registers a short-lived child (killed on exit/signals if still running). */
export function trackChild(child: ChildProcess): void {
  helpers.add(child);
  child.once('exit', () => helpers.delete(child));
}

/** Registers a synchronous clean-up to run when the process exits or is interrupted. */
export function onExitCleanup(cleanup: () => void): void {
  exitCleanups.push(cleanup);
}

/** Synchronous last resort for `exit` handlers: SIGKILL every group and helper we started. */
function killAllNow(): void {
  for (const proc of running) signalGroup(proc, 'SIGKILL');
  for (const child of helpers) child.kill('SIGKILL');
  for (const cleanup of exitCleanups.splice(0)) {
    try {
      cleanup();
    } catch {
      // best effort while exiting
    }
  }
}

let installed = false;
/** Installs exit/signal/error handlers that kill every started process (idempotent). */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping servers\n`);
      killAllNow();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (error) => {
    process.stderr.write(`bench: ${error.stack ?? error.message}\n`);
    killAllNow();
    process.exit(1);
  });
}

/** A GET with a timeout; resolves with the status, headers and body, rejects on error or timeout. */
export function httpGet(
  url: string,
  timeoutMs = 2000,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Waits until `url` answers any HTTP response. Rejects with the process's output when it exits first
 * or when `timeoutMs` passes.
 */
export async function waitForHttp(proc: ServerProcess, url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.hasExited())
      throw new Error(`${proc.name} exited: ${proc.output().trim().slice(-500) || '(no output)'}`);
    try {
      await httpGet(url, 1000);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(
    `${proc.name} did not answer ${url} within ${timeoutMs} ms: ${proc.output().trim().slice(-500)}`,
  );
}

/** `rootPid` and all its descendants (Linux /proc; vanished processes are skipped). */
export function processTree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // process vanished
    }
  }
  const tree: number[] = [];
  const stack = [rootPid];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    tree.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** Resident set size in bytes of a process and all its descendants (Linux /proc). */
export function treeRss(rootPid: number): number {
  let total = 0;
  for (const pid of processTree(rootPid)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
      if (match) total += Number(match[1]) * 1024;
    } catch {
      // process vanished
    }
  }
  return total;
}

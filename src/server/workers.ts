/**
 * The primary's side of a multi-worker server: N worker threads, each with its own engine and plugin
 * instances, all listening on one port with SO_REUSEPORT so the kernel spreads connections across them.
 *
 * - A worker that dies is restarted after 100 ms, doubling per consecutive crash up to 5 s.
 * - `control(plugin, command, args)` reaches the plugin instance of every worker (RPC over the worker's
 *   message port, with ids and a timeout) and collects one result per worker.
 * - `reload(raw)` swaps every worker's configuration in two steps: all prepare (build plugins and
 *   engine beside the serving ones), then all commit; if one cannot prepare, all abort and nothing changes.
 * - `close()` asks every worker to drain and close its plugins, then waits for the threads to exit.
 * - A worker that cannot start again after a crash (`MAX_FAILED_STARTS` attempts in a row) is fatal:
 *   `onFatal` is called (the CLI exits 1 with the reason) instead of restarting it forever.
 */
import { type TransferListItem, Worker } from 'node:worker_threads';
import { createLogger } from './logger.ts';
import type { PrimaryShare } from './plugin.ts';
import type { WorkerParams } from './runtime.ts';

/** Messages from the primary to a worker. */
export type ToWorker =
  | { type: 'control'; id: number; plugin: string; command: string; args: unknown }
  | { type: 'shutdown' };

/** Messages from a worker to the primary. */
export type FromWorker =
  | { type: 'ready'; port: number }
  | { type: 'failed'; message: string; code?: string | undefined }
  | { type: 'result'; id: number; result?: unknown; error?: string }
  | { type: 'closed' };

/** One worker's answer to a control call. */
export interface ControlResult {
  worker: number;
  result?: unknown;
  error?: string;
}

export interface WorkerPoolOptions {
  /** Parameters shared by every worker (the id is filled in per worker). */
  readonly params: Omit<WorkerParams, 'workerId'>;
  /** Time a worker gets to drain on `close()` before its thread is terminated. */
  readonly shutdownTimeoutMs: number;
  /** Time a control call waits for a worker's answer. @default 5000 */
  readonly controlTimeoutMs?: number;
  /**
   * A worker cannot be started again after a crash: the server is short of a worker for good. @default
   * log the reason
   */
  readonly onFatal?: (error: WorkerStartError) => void;
  /**
   * What plugins keep in the primary for every worker, by plugin name: each thread started (restarts
   * included) gets its part, and each thread that exits is reported to them. @default none
   */
  readonly shares?: ReadonlyMap<string, PrimaryShare>;
}

export interface WorkerPool {
  readonly size: number;
  /** Crash restarts so far (all workers). */
  readonly restarts: number;
  control(plugin: string, command: string, args?: unknown): Promise<ControlResult[]>;
  /**
   * Serve `raw` (a validated raw configuration) from now on in every worker; workers restarted later start
   * with it too. Rejects with a `WorkerStartError` naming the worker and the reason when one could not
   * take it; every worker then keeps the configuration it had.
   */
  reload(raw: unknown): Promise<void>;
  close(): Promise<void>;
}

const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 5000;
/** A worker that stayed up this long has its crash count reset. */
const STABLE_AFTER_MS = 30_000;
/** Restarts in a row that fail before the worker is ready, after which the pool gives up (`onFatal`). */
const MAX_FAILED_STARTS = 5;
/** Time a worker gets to build the plugins of a reloaded configuration. */
const PREPARE_TIMEOUT_MS = 30_000;

// In the source tree the entry is TypeScript (run by type stripping); in the built package it is .js.
/**
 * Young generation of each worker's heap, in MiB (V8 splits it into three semi-spaces). V8's default on
 * 64-bit grows it to 3 x 32 MiB per thread; a server under churn fills all of it between scavenges, and
 * the committed pages stay in RSS. 24 MiB (8 MiB semi-spaces) measured the same CPU per request on the
 * cache-churn scenario and ~90 MiB less RSS with one worker.
 */
const WORKER_YOUNG_GENERATION_MB = 24;

const ENTRY = new URL(
  import.meta.url.endsWith('.ts') ? './worker-entry.ts' : './worker-entry.js',
  import.meta.url,
);

interface Slot {
  readonly id: number;
  worker: Worker | null;
  ready: boolean;
  crashes: number;
  startedAt: number;
  restartTimer: NodeJS.Timeout | null;
  exited: Promise<void>;
  /** Restarts in a row that failed before the worker was ready. */
  failedStarts: number;
}

/** A failure to start: the first worker's error (config error in a plugin, port taken, …). */
export class WorkerStartError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.name = 'WorkerStartError';
    this.code = code;
  }
}

/** Start `params.workerCount` workers; resolves once all listen, rejects if any fails to start. */
export async function startWorkerPool(options: WorkerPoolOptions): Promise<WorkerPool> {
  const log = createLogger('server');
  const count = options.params.workerCount;
  const controlTimeoutMs = options.controlTimeoutMs ?? 5000;
  const pending = new Map<number, { resolve: (r: ControlResult) => void; slot: Slot }>();
  let nextId = 1;
  let closing = false;
  let restarts = 0;
  // Replaced by reload(): a worker (re)started later serves the configuration in force.
  let params = options.params;

  const settle = (slot: Slot, id: number, result: ControlResult) => {
    const call = pending.get(id);
    if (call === undefined || call.slot !== slot) return;
    pending.delete(id);
    call.resolve(result);
  };

  /** Spawn the thread of `slot`; the promise settles when it is ready or failed. */
  const spawn = (slot: Slot): Promise<void> =>
    new Promise((resolve, reject) => {
      const shared: Record<string, unknown> = {};
      const transferList: TransferListItem[] = [];
      for (const [name, share] of options.shares ?? []) {
        const part = share.connect(slot.id);
        shared[name] = part.value;
        transferList.push(...part.transfer);
      }
      const worker = new Worker(ENTRY, {
        workerData: { ...params, workerId: slot.id, shared } satisfies WorkerParams,
        transferList,
        resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      });
      slot.worker = worker;
      slot.ready = false;
      slot.startedAt = Date.now();
      let resolveExit: () => void = () => {};
      slot.exited = new Promise((r) => {
        resolveExit = r;
      });
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          slot.ready = true;
          resolve();
        } else if (message.type === 'failed') {
          reject(new WorkerStartError(message.message, message.code));
        } else if (message.type === 'result') {
          const { id, type: _type, ...rest } = message;
          settle(slot, id, { worker: slot.id, ...rest });
        }
      });
      worker.on('error', (error: Error) => {
        const where = error.stack?.split('\n').find((line) => line.trimStart().startsWith('at '));
        log.error(
          `worker ${slot.id} crashed: ${error.message}${where === undefined ? '' : ` (${where.trim()})`}`,
        );
        reject(new WorkerStartError(`worker ${slot.id} crashed while starting: ${error.message}`));
      });
      worker.on('exit', (code) => {
        slot.worker = null;
        slot.ready = false;
        // What the thread held in the plugins' shares (pins on shared cache entries, ...) is released.
        for (const share of options.shares?.values() ?? []) share.workerGone?.(slot.id);
        resolveExit();
        reject(new WorkerStartError(`worker ${slot.id} exited while starting (code ${code})`));
        for (const [id, call] of pending) {
          if (call.slot === slot) settle(slot, id, { worker: slot.id, error: 'worker exited' });
        }
        if (!closing) scheduleRestart(slot, code);
      });
    });

  const scheduleRestart = (slot: Slot, code: number) => {
    if (Date.now() - slot.startedAt > STABLE_AFTER_MS) slot.crashes = 0;
    slot.crashes++;
    const delay = Math.min(BACKOFF_START_MS * 2 ** (slot.crashes - 1), BACKOFF_MAX_MS);
    log.warn(`worker ${slot.id} exited with code ${code}; restarting in ${delay} ms`);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (closing) return;
      restarts++;
      spawn(slot).then(
        () => {
          slot.failedStarts = 0;
          log.info(`worker ${slot.id} restarted`);
        },
        (error: WorkerStartError) => {
          log.error(`worker ${slot.id} failed to restart: ${error.message}`);
          if (++slot.failedStarts < MAX_FAILED_STARTS || closing) return;
          closing = true;
          const fatal = new WorkerStartError(
            `worker ${slot.id} cannot start (${MAX_FAILED_STARTS} attempts): ${error.message}`,
            error.code,
          );
          if (options.onFatal === undefined) log.error(fatal.message);
          else options.onFatal(fatal);
        },
      );
    }, delay);
  };

  /** One RPC to one worker; never rejects (a failure is the result's `error`). */
  const call = (
    slot: Slot,
    plugin: string,
    command: string,
    args: unknown,
    timeoutMs: number,
  ): Promise<ControlResult> =>
    new Promise<ControlResult>((resolve) => {
      if (slot.worker === null || !slot.ready) {
        resolve({ worker: slot.id, error: 'worker not running' });
        return;
      }
      const id = nextId++;
      const timer = setTimeout(() => settle(slot, id, { worker: slot.id, error: 'timeout' }), timeoutMs);
      timer.unref();
      pending.set(id, {
        slot,
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
      });
      const message: ToWorker = { type: 'control', id, plugin, command, args };
      try {
        slot.worker.postMessage(message);
      } catch (error) {
        settle(slot, id, {
          worker: slot.id,
          error: `cannot send arguments: ${(error as Error).message}`,
        });
      }
    });

  const slots: Slot[] = [];
  for (let id = 0; id < count; id++) {
    slots.push({
      id,
      worker: null,
      ready: false,
      crashes: 0,
      startedAt: 0,
      restartTimer: null,
      exited: Promise.resolve(),
      failedStarts: 0,
    });
  }
  try {
    await Promise.all(slots.map(spawn));
  } catch (error) {
    closing = true;
    await Promise.all(slots.map((slot) => slot.worker?.terminate()));
    throw error;
  }

  return {
    size: count,
    get restarts() {
      return restarts;
    },
    control(plugin, command, args) {
      return Promise.all(slots.map((slot) => call(slot, plugin, command, args, controlTimeoutMs)));
    },
    async reload(raw) {
      const failure = (results: ControlResult[]) => results.find((r) => r.error !== undefined);
      const prepared = await Promise.all(
        slots.map((slot) => call(slot, 'server', 'prepare', raw, PREPARE_TIMEOUT_MS)),
      );
      const failed = failure(prepared);
      if (failed !== undefined) {
        await Promise.all(slots.map((slot) => call(slot, 'server', 'abort', null, controlTimeoutMs)));
        throw new WorkerStartError(`worker ${failed.worker}: ${failed.error}`);
      }
      params = { ...params, raw };
      const committed = await Promise.all(
        slots.map((slot) => call(slot, 'server', 'commit', null, controlTimeoutMs)),
      );
      for (const result of committed) {
        // Restarted between the two steps: it started with the new configuration already.
        if (result.error !== undefined || result.result !== true) {
          log.warn(`worker ${result.worker} did not switch: ${result.error ?? 'it had restarted meanwhile'}`);
        }
      }
    },
    async close() {
      closing = true;
      await Promise.all(
        slots.map(async (slot) => {
          if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
          const worker = slot.worker;
          if (worker === null) return;
          worker.postMessage({ type: 'shutdown' } satisfies ToWorker);
          // Drain time plus a margin for plugins' close(); then the thread is stopped regardless.
          const deadline = setTimeout(() => worker.terminate(), options.shutdownTimeoutMs + 2000);
          await slot.exited;
          clearTimeout(deadline);
        }),
      );
    },
  };
}

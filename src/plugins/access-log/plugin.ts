/**
 * The access log: one line per response, in the combined log format or as JSON lines, to stdout or a file.
 * That includes the answers the engine makes by itself (a 400 for a malformed request, 414, 431, 408, 503
 * over the connection limit), through the host's `onEngineResponse` stage, as nginx logs its 400s.
 * Lines are appended to a string and written in batches (over 64 KiB, every 200 ms, and on close), so the
 * request path does no I/O. `enabled = false` in `[access_log]` removes the plugin from every stage.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Request, Response } from '../../http/types.ts';
import { definePlugin, type Plugin } from '../../server/plugin.ts';
import { formatCombined, formatJson } from './format.ts';
import { compileTemplate } from './template.ts';

/** Batch size that triggers an immediate write. */
const FLUSH_BYTES = 64 * 1024;
/** Longest time a line waits in the buffer. */
const FLUSH_INTERVAL_MS = 200;
/** Bytes queued in the output stream beyond which lines are dropped (and counted) rather than buffered. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

/**
 * The file must be one we can append to: checked when the config is validated (`tamarin check`, start,
 * reload), so a path in a missing or read-only directory is a config error naming `access_log.path`.
 */
function writableFile(file: string, ctx: z.core.$RefinementCtx<string>): void {
  const problem = fileProblem(file);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: file });
}

/** Why `file` cannot be appended to, or undefined when it can (`-` is stdout). */
function fileProblem(file: string): string | undefined {
  if (file === '-') return undefined;
  const dir = path.dirname(file);
  const dirStat = fs.statSync(dir, { throwIfNoEntry: false });
  if (dirStat === undefined) return `the directory ${dir} does not exist`;
  if (!dirStat.isDirectory()) return `${dir} is not a directory`;
  const fileStat = fs.statSync(file, { throwIfNoEntry: false });
  if (fileStat?.isDirectory() === true) return `${file} is a directory`;
  try {
    fs.accessSync(fileStat === undefined ? dir : file, fs.constants.W_OK);
  } catch {
    return fileStat === undefined ? `the directory ${dir} is not writable` : `${file} is not writable`;
  }
  return undefined;
}

/** `[access_log]` options. */
export const accessLogOptions = z.strictObject({
  /**
   * `combined` (Apache/nginx), `json` (one object per line), or a template with nginx-style variables,
   * e.g. `"$remote_addr $request $status $upstream_cache_status $upstream_addr $request_time"`.
   * @default "combined"
   */
  format: z
    .string()
    .min(1)
    .superRefine((format, ctx) => {
      if (format === 'combined' || format === 'json') return;
      if (!format.includes('$')) {
        ctx.addIssue({
          code: 'custom',
          message: 'expected "combined", "json" or a template with $variables',
        });
        return;
      }
      try {
        compileTemplate(format);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    })
    .default('combined'),
  /** `-` for stdout, or a file appended to (relative to the config file). @default "-" */
  path: z.string().min(1).superRefine(writableFile).default('-'),
});

/** Where batches go: stdout or an append-only file stream. */
interface Sink {
  write(text: string): void;
  pending(): number;
  /** Flush and start a new file at the configured path (SIGUSR1 after a rename); stdout stays. */
  reopen(): Promise<void>;
  end(): Promise<void>;
}

/**
 * A stream over an already opened descriptor: opening synchronously makes a path that cannot be written
 * fail the plugin's start (and so the worker's, with the reason) instead of a later 'error' event.
 */
function appendStream(file: string, onError: (error: Error) => void): fs.WriteStream {
  const stream = fs.createWriteStream(file, { fd: fs.openSync(file, 'a'), flags: 'a' });
  stream.on('error', onError);
  return stream;
}

function openSink(file: string, onError: (error: Error) => void): Sink {
  if (file === '-') {
    return {
      write: (text) => process.stdout.write(text),
      pending: () => process.stdout.writableLength,
      reopen: async () => {},
      end: async () => {},
    };
  }
  let stream = appendStream(file, onError);
  const endStream = (old: fs.WriteStream) => new Promise<void>((resolve) => old.end(resolve));
  return {
    write: (text) => stream.write(text),
    pending: () => stream.writableLength,
    async reopen() {
      // Open the new file first: if that fails, lines keep going to the old one (and the error is logged).
      const next = appendStream(file, onError);
      const old = stream;
      stream = next;
      await endStream(old);
    },
    end: () => endStream(stream),
  };
}

export const accessLogPlugin = definePlugin({
  name: 'access_log',
  options: accessLogOptions,
  create(options, context): Plugin {
    // A write error (disk full, file system gone) costs log lines, never the worker.
    const sink = openSink(options.path, (error) => context.logger.error(`${options.path}: ${error.message}`));
    const json = options.format === 'json';
    const template =
      options.format === 'json' || options.format === 'combined' ? null : compileTemplate(options.format);
    let buffer = '';
    let timer: NodeJS.Timeout | null = null;
    let dropped = 0;

    const flush = (): void => {
      if (timer !== null) {
        clearTimeout(timer);
        timer = null;
      }
      if (buffer === '') return;
      if (sink.pending() > MAX_PENDING_BYTES) {
        // The reader (a pipe, a slow disk) is not keeping up: drop rather than grow without bound.
        dropped += buffer.split('\n').length - 1;
      } else {
        if (dropped > 0) {
          context.logger.warn(`${dropped} access log lines dropped: output too slow`);
          dropped = 0;
        }
        sink.write(buffer);
      }
      buffer = '';
    };

    const log = (req: Request, res: Response): void => {
      const now = Date.now();
      buffer +=
        template !== null
          ? template.format(req, res, now, req.startTime > 0 ? performance.now() - req.startTime : 0)
          : json
            ? formatJson(req, res, now, performance.now() - req.startTime)
            : formatCombined(req, res, now);
      if (buffer.length > FLUSH_BYTES) flush();
      else if (timer === null) {
        timer = setTimeout(flush, FLUSH_INTERVAL_MS);
        timer.unref();
      }
    };

    return {
      name: 'access_log',
      onResponse: log,
      onEngineResponse: log,
      control(command) {
        if (command === 'flush') {
          flush();
          return true;
        }
        throw new Error(`unknown command "${command}"`);
      },
      async reopen() {
        flush();
        await sink.reopen();
      },
      async close() {
        flush();
        await sink.end();
      },
    };
  },
});

/**
 * The access log: one line per response, in the combined log format or as JSON lines, to stdout or a file.
 * That includes the answers the engine makes by itself (a 400 for a malformed request, 414, 431, 408, 503
 * over the connection limit), through the host's `onEngineResponse` stage, as nginx logs its 400s.
 * Lines are appended to a string and written in batches (over 64 KiB, every 200 ms, and on close), so the
 * request path does no I/O. `enabled = false` in `[access_log]` removes the plugin from every stage.
 */
import fs from 'node:fs';
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
  path: z.string().min(1).default('-'),
});

/** Where batches go: stdout or an append-only file stream. */
interface Sink {
  write(text: string): void;
  pending(): number;
  end(): Promise<void>;
}

function openSink(path: string): Sink {
  if (path === '-') {
    return {
      write: (text) => process.stdout.write(text),
      pending: () => process.stdout.writableLength,
      end: async () => {},
    };
  }
  const stream = fs.createWriteStream(path, { flags: 'a' });
  return {
    write: (text) => stream.write(text),
    pending: () => stream.writableLength,
    end: () => new Promise<void>((resolve) => stream.end(resolve)),
  };
}

export const accessLogPlugin = definePlugin({
  name: 'access_log',
  options: accessLogOptions,
  create(options, context): Plugin {
    const sink = openSink(options.path);
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
      async close() {
        flush();
        await sink.end();
      },
    };
  },
});

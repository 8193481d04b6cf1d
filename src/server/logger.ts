/**
 * One-line log messages for the server and its plugins, on stderr (stdout belongs to the access log when
 * it writes to `-`). Each line names where it came from: `tamarin[w1] static: message`.
 */
import type { Logger } from './plugin.ts';

/** Where log lines go; replaceable so that tests (and embedders) can capture them. */
export type LogSink = (level: 'info' | 'warn' | 'error', line: string) => void;

const stderrSink: LogSink = (_level, line) => {
  process.stderr.write(line + '\n');
};

let sink: LogSink = stderrSink;

/** Route every later log line to `next` (`null` restores stderr). Returns the previous sink. */
export function setLogSink(next: LogSink | null): LogSink {
  const previous = sink;
  sink = next ?? stderrSink;
  return previous;
}

/**
 * A logger for one scope (a plugin name or `server`). `workerId` is shown when the server runs more than
 * one worker, so that a line can be traced to its thread.
 */
export function createLogger(scope: string, workerId?: number): Logger {
  const prefix = (workerId === undefined ? 'tamarin ' : `tamarin[w${workerId}] `) + scope + ': ';
  return {
    info: (message) => sink('info', prefix + message),
    warn: (message) => sink('warn', prefix + 'warning: ' + message),
    error: (message) => sink('error', prefix + 'error: ' + message),
  };
}

/** The message of anything thrown, without a stack trace (user-facing logs). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

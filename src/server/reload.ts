/**
 * Reloading a running server's configuration (SIGHUP, `tamarin reload`, `POST /api/reload`): read the
 * configuration again, validate it as at start-up, refuse what cannot change without a restart, then
 * have every worker swap to it (runtime.ts: the listening sockets stay, new connections get the new
 * configuration, the old one finishes its in-flight requests). Any failure leaves the server serving the
 * configuration it had, and says why, naming the key.
 *
 * Reloads run one at a time: a reload asked for while one is running waits for it.
 */
import { type ResolvedConfig, rawConfigOf, resolveConfig, type TamarinConfig } from './config.ts';
import { ConfigError, type ConfigIssue } from './config-errors.ts';

/** What a successful reload reports. */
export interface ReloadResult {
  /** The configuration now serving. */
  readonly config: TamarinConfig;
  /** Top-level tables whose settings changed (`server`, `proxy`, `plugins`, …), sorted. */
  readonly changed: readonly string[];
  /** Reloads applied since start, this one included. */
  readonly generation: number;
}

/** Settings bound to sockets and threads at start-up: a reload that changes one is refused. */
const FIXED_SERVER_KEYS = ['host', 'port', 'workers'] as const;

/** One issue per start-up-only setting that differs between `before` and `after`. */
export function fixedSettingChanges(before: TamarinConfig, after: TamarinConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const restart = 'restart the server to apply it, or change it back';
  for (const key of FIXED_SERVER_KEYS) {
    const was = before.server[key];
    const now = after.server[key];
    if (was !== now) {
      issues.push({
        path: `server.${key}`,
        message: `cannot change on reload (${JSON.stringify(was)} → ${JSON.stringify(now)}): ${restart}`,
      });
    }
  }
  // Listeners are bound once per worker and kept across reloads; the TLS contexts (protocol versions,
  // ciphers, session ticket keys shared by the workers) and the HTTP/2 settings are built with them. A
  // reload loads the certificate files again (`reloadCertificates`), but these tables need a restart.
  const listenBefore = JSON.stringify(before.server.listen);
  const listenAfter = JSON.stringify(after.server.listen);
  if (listenBefore !== listenAfter) {
    issues.push({
      path: 'server.listen',
      message: `cannot change on reload (the listeners stay bound across reloads): ${restart}`,
    });
  }
  for (const table of ['tls', 'http2']) {
    if (JSON.stringify(before[table]) === JSON.stringify(after[table])) continue;
    issues.push({
      path: table,
      message: `cannot change on reload (TLS contexts, session ticket keys and HTTP/2 settings are built with the listeners; certificate files are reloaded from disk): ${restart}`,
    });
  }
  // The admin listener and its token belong to the primary, which a reload does not restart.
  const adminBefore = (before.admin ?? {}) as Record<string, unknown>;
  const adminAfter = (after.admin ?? {}) as Record<string, unknown>;
  for (const key of new Set([...Object.keys(adminBefore), ...Object.keys(adminAfter)])) {
    if (JSON.stringify(adminBefore[key]) === JSON.stringify(adminAfter[key])) continue;
    // Never print a token, even a changed one.
    const values =
      key === 'token'
        ? ''
        : ` (${JSON.stringify(adminBefore[key]) ?? 'unset'} → ${JSON.stringify(adminAfter[key]) ?? 'unset'})`;
    issues.push({ path: `admin.${key}`, message: `cannot change on reload${values}: ${restart}` });
  }
  return issues;
}

/** Top-level tables written differently (for the log line; compared as written, before defaults). */
function changedTables(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key])).sort();
}

export interface ReloaderOptions {
  /** The configuration serving at start. */
  readonly initial: ResolvedConfig;
  /** Read the raw configuration again (the file, with the command line's overrides). */
  readonly read: () => Promise<{ raw: Record<string, unknown>; baseDir: string }>;
  /** Make every worker serve `raw` (validated); rejects when a worker cannot. */
  readonly apply: (raw: Record<string, unknown>, resolved: ResolvedConfig) => Promise<void>;
}

/** Reloads one at a time; `current()` is the configuration serving now. */
export interface Reloader {
  current(): ResolvedConfig;
  /** Reload. Rejects with a `ConfigError` (invalid, or a start-up-only key changed) or a worker's error. */
  reload(): Promise<ReloadResult>;
}

export function createReloader(options: ReloaderOptions): Reloader {
  let current = options.initial;
  let generation = 0;
  let queue: Promise<unknown> = Promise.resolve();

  const once = async (): Promise<ReloadResult> => {
    const { raw, baseDir } = await options.read();
    const resolved = await resolveConfig(raw, { baseDir });
    const fixed = fixedSettingChanges(current.config, resolved.config);
    if (fixed.length > 0) throw new ConfigError(fixed);
    await options.apply(raw, resolved);
    const changed = changedTables(rawConfigOf(current.config) ?? {}, raw);
    current = resolved;
    generation++;
    return { config: resolved.config, changed, generation };
  };

  return {
    current: () => current,
    reload() {
      const run = queue.then(once, once);
      queue = run.catch(() => {});
      return run;
    },
  };
}

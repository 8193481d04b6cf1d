#!/usr/bin/env node
/**
 * The `tamarin` command: serve a directory or a config file, check a config, replay a cache trace.
 * User errors (bad flags, bad config, port taken) print one clear message and exit non-zero without a
 * stack trace: 2 for usage and config errors, 1 when the server cannot start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AdminFlagError, applyAdminFlags } from './cli-admin.ts';
import type { RunningServer } from './main/compose.ts';
import type { ConfigError } from './server/config-errors.ts';

/** The package root: one level above this file both in `src/` (source) and `dist/` (built package). */
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The bundled demo site, served by `tamarin serve` when no directory is given. */
const BUNDLED_SITE = path.join(PACKAGE_ROOT, 'site');
const VERSION = (
  JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

const USAGE = `Usage:
  tamarin serve [dir] [options]     serve dir (default: the bundled demo site)
  tamarin check [options] [--json]  validate the configuration and print it with every default filled in
  tamarin reload [-c file]          make the running server re-read its configuration (admin API)
  tamarin sim <trace>... [--policy p|all] [--size 0.1%,1%,10%|64MiB|1000]
                                    replay an access trace through the cache's eviction policies
  tamarin --help | --version

Options:
  -c, --config <file>       TOML config file (see tamarin.example.toml); flags below override it
  -p, --port <n>            port to listen on (0 = any free port)           [default: 8080]
  -H, --host <addr>         address to listen on                            [default: 127.0.0.1]
  -w, --workers <n>         worker threads sharing the port                 [default: 0 = one per CPU]
      --admin <host:port>   admin API and dashboard address (port 0 = any)  [default: 127.0.0.1:9090]
      --no-admin            no admin listener
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  host: { type: 'string', short: 'H' },
  workers: { type: 'string', short: 'w' },
  admin: { type: 'string' },
  'no-admin': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

/** A usage error: message + usage on stderr, exit 2. */
class UsageError extends Error {}

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    const message = (error as Error).message;
    const code = (error as { code?: string }).code;
    const quoted = /'(-[^']*)'/.exec(message)?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option "${quoted}"`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      // e.g. "Option '-p, --port <value>' argument missing": name the long form.
      const long = /--[\w-]+/.exec(quoted)?.[0];
      throw new UsageError(long === undefined ? message : `option "${long}" needs a value`);
    }
    throw new UsageError(message.split('\n')[0]!);
  }
}

/** A number flag stays a string when it is not a plain integer, so the config error names the key. */
function numberFlag(value: string): number | string {
  return /^\d+$/.test(value) ? Number(value) : value;
}

function table(raw: Record<string, unknown>, name: string): Record<string, unknown> {
  const value = raw[name];
  if (typeof value === 'object' && value !== null && !Array.isArray(value))
    return value as Record<string, unknown>;
  const fresh: Record<string, unknown> = {};
  raw[name] = fresh;
  return fresh;
}

/** Read the config file (if any) and apply the command line on top of it. */
async function effectiveRaw(values: ReturnType<typeof parse>['values'], dir: string | undefined) {
  // The server modules (and zod) load only for commands that need them: --help and --version stay fast.
  const { loadRawConfig } = await import('./server/start.ts');
  const loaded = await loadRawConfig({ configPath: values.config });
  const { raw } = loaded;
  if (values.port !== undefined || values.host !== undefined || values.workers !== undefined) {
    const server = table(raw, 'server');
    if (values.port !== undefined) server.port = numberFlag(values.port);
    if (values.host !== undefined) server.host = values.host;
    if (values.workers !== undefined) server.workers = numberFlag(values.workers);
  }
  applyAdminFlags(raw, values);
  const plugins = raw.plugins;
  const runsStatic = plugins === undefined || (Array.isArray(plugins) && plugins.includes('static'));
  if (dir !== undefined) table(raw, 'static').root = path.resolve(dir);
  else if (runsStatic && (raw.static as { root?: unknown } | undefined)?.root === undefined) {
    table(raw, 'static').root = BUNDLED_SITE;
  }
  return loaded;
}

/** TOML has no null: drop nulls (a limit set to "no limit") from the redacted config before printing. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((item) => item !== null).map(withoutNulls);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) if (inner !== null) out[key] = withoutNulls(inner);
    return out;
  }
  return value;
}
async function check(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const { raw, baseDir } = await effectiveRaw(values, positionals[0]);
  const { resolveConfig } = await import('./main/compose.ts');
  const { stringify: stringifyToml } = await import('smol-toml');
  const { redactConfig } = await import('./admin/redact.ts');
  const { config } = await resolveConfig(raw, { baseDir });
  (await import('./server/privileges.ts')).resolveIdentity(config.server);
  // The printed config is often pasted into tickets and chats: secrets (admin.token, ...) never show,
  // the same rule as the admin's GET /api/config.
  const plain = redactConfig(config);
  process.stdout.write(
    values.json === true
      ? JSON.stringify(plain, null, 2) + '\n'
      : stringifyToml(withoutNulls(plain) as Record<string, unknown>) + '\n',
  );
  process.stderr.write(`config ok${values.config === undefined ? ' (defaults)' : `: ${values.config}`}\n`);
  return 0;
}

/**
 * The start-up block: what is served where, then the admin's dashboard and, when it was generated, the
 * token (printed this once: purges from curl need it, and so does every call off loopback).
 */
function startupLines(server: RunningServer): string[] {
  const root = (server.config.static as { root?: string } | undefined)?.root;
  const what =
    server.plugins.includes('static') && root !== undefined ? `serving ${root} at` : 'listening at';
  const workers = server.workers === 1 ? '1 worker' : `${server.workers} workers`;
  const lines = [
    `tamarin ${VERSION} ${what} ${server.urls.join(' and ')} (${workers}, plugins: ${server.plugins.join(', ') || 'none'})`,
  ];
  const { admin } = server;
  if (admin !== null) {
    lines.push(`admin: ${admin.url} (dashboard)`);
    if (admin.tokenGenerated) lines.push(`admin token (generated, valid until restart): ${admin.token}`);
  }
  return lines;
}

/** A line on stderr from the CLI itself (signals, fatal errors). */
function say(line: string): void {
  process.stderr.write(`tamarin: ${line}\n`);
}

/**
 * The signals an operator sends (nginx's and logrotate's conventions), installed before start-up so that
 * none of them has its default effect meanwhile; every one received is logged:
 *
 * - HUP: reload the configuration (the file again, with this command line's flags on top).
 * - USR1: reopen log files. A handler also keeps Node from opening its inspector (a code-execution
 *   endpoint on 127.0.0.1:9229), which it does on SIGUSR1 by default.
 * - USR2: no meaning here (nginx's binary upgrade): logged and ignored rather than killing the server.
 *
 * TERM, INT and QUIT (drain and exit) are installed once the server runs (`stopOnSignals`).
 */
function operatorSignals(current: () => RunningServer | null): void {
  process.on('SIGHUP', () => {
    const server = current();
    if (server === null) return say('SIGHUP received while starting: ignored');
    say('SIGHUP received, reloading the configuration');
    // The outcome (applied, or refused and why) is logged by the server itself.
    server.reload().catch(() => {});
  });
  process.on('SIGUSR1', () => {
    const server = current();
    if (server === null) return say('SIGUSR1 received while starting: ignored');
    say('SIGUSR1 received, reopening log files');
    server.reopen().catch((error: unknown) => say(`reopening log files failed: ${(error as Error).message}`));
  });
  process.on('SIGUSR2', () => say('SIGUSR2 received: ignored (no meaning in tamarin)'));
}

/** TERM, INT and QUIT: drain in-flight requests and exit 0; the same signal again exits at once. */
function stopOnSignals(server: RunningServer): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`tamarin: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    const seconds = server.config.server.shutdown_timeout / 1000;
    process.stderr.write(`tamarin: ${signal} received, draining (up to ${seconds}s)\n`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`tamarin: error while stopping: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGQUIT', () => stop('SIGQUIT'));
}

async function serve(argv: string[]): Promise<number | null> {
  const { values, positionals } = parse(argv);
  if (values.json === true) throw new UsageError('option "--json" is only for "tamarin check"');
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  let server: RunningServer | null = null;
  operatorSignals(() => server);
  const { raw, baseDir } = await effectiveRaw(values, positionals[0]);
  const { startServer } = await import('./main/compose.ts');
  server = await startServer({
    config: raw,
    configPath: values.config ?? path.join(baseDir, 'config'),
    // A reload reads the file again and applies this command line on top, as at start.
    reloadConfig: async () => (await effectiveRaw(values, positionals[0])).raw,
    onFatal: (error) => {
      say(error.message);
      process.exit(1);
    },
  });
  process.stderr.write(startupLines(server).join('\n') + '\n');
  stopOnSignals(server);
  return null;
}

/**
 * `tamarin reload`: ask the running server, through its admin API (`POST /api/reload`), to re-read its
 * configuration, and report the outcome: exit 0 when it serves the new one, 2 with the config errors
 * when it refused it (it keeps serving the old one), 1 when no server answers. The admin's address and
 * token come from the same config file as the server's; a generated token is fetched from the loopback
 * session endpoint. Without an admin API, `kill -HUP <pid>` does the same (the outcome is in its log).
 */
async function reload(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const { raw, baseDir } = await effectiveRaw(values, undefined);
  const { resolveConfig } = await import('./main/compose.ts');
  const admin = (await resolveConfig(raw, { baseDir })).config.admin as {
    enabled: boolean;
    host: string;
    port: number;
    token?: string;
  };
  if (!admin.enabled || admin.port === 0) {
    say(
      `cannot reach the server: its admin API is ${admin.enabled ? 'on a random port (admin.port = 0)' : 'off'}; ` +
        'send SIGHUP to the server process instead (kill -HUP <pid>)',
    );
    return 1;
  }
  const host = admin.host === '0.0.0.0' ? '127.0.0.1' : admin.host === '::' ? '::1' : admin.host;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${admin.port}`;
  let answer: Response;
  try {
    let token = admin.token;
    if (token === undefined) {
      const session = (await (await fetch(`${base}/api/session`)).json()) as { token?: string | null };
      token = session.token ?? undefined;
    }
    answer = await fetch(`${base}/api/reload`, {
      method: 'POST',
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    say(`no server answers at ${base} (${cause}): is it running, with this config's [admin] settings?`);
    return 1;
  }
  const body = (await answer.json().catch(() => ({}))) as {
    generation?: number;
    changed?: string[];
    errors?: string[];
    message?: string;
  };
  if (answer.status === 200) {
    const changed = body.changed?.length ? `changed: ${body.changed.join(', ')}` : 'nothing changed';
    say(`reloaded: the server at ${base} serves the new configuration (${changed})`);
    return 0;
  }
  if (answer.status === 422 && body.errors !== undefined) {
    process.stderr.write(body.errors.map((line) => `config error: ${line}`).join('\n') + '\n');
    say('reload refused: the server keeps serving its previous configuration');
    return 2;
  }
  say(`reload failed (${answer.status}): ${body.message ?? 'no reason given'}`);
  return 1;
}

async function sim(argv: string[]): Promise<number> {
  // Loaded only for this command: the simulator and its policies are not needed to serve.
  const { runSim } = (await import('./cache/sim.ts')) as { runSim: (args: string[]) => Promise<number> };
  return runSim(argv);
}

/** Run the CLI; resolves with an exit code, or `null` while a server keeps running. */
async function main(argv: string[]): Promise<number | null> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined) return await serve([]);
    if (first === '--help' || first === '-h' || first === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (first === '--version' || first === '-v') {
      process.stdout.write(`tamarin ${VERSION}\n`);
      return 0;
    }
    // The simulator has its own options and help.
    if (first === 'sim') return await sim(rest);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (first === 'serve') return await serve(rest);
    if (first === 'check') return await check(rest);
    if (first === 'reload') return await reload(rest);
    if (first.startsWith('-')) return await serve(argv);
    throw new UsageError(`unknown command "${first}"`);
  } catch (error) {
    if (error instanceof UsageError || error instanceof AdminFlagError) {
      process.stderr.write(`tamarin: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    // By name: the error classes live in modules this file loads lazily.
    const name = (error as Error | undefined)?.name;
    if (name === 'ConfigError') {
      process.stderr.write((error as ConfigError).lines().join('\n') + '\n');
      return 2;
    }
    if (error instanceof Error && (name === 'ListenError' || name === 'WorkerStartError')) {
      process.stderr.write(`tamarin: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

const code = await main(process.argv.slice(2));
if (code !== null) process.exitCode = code;

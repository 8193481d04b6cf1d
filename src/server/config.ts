/**
 * The configuration file: TOML, validated strictly (unknown keys are errors), every error naming the key
 * path and what was expected. `[server]` is defined here; every plugin brings the schema of its own table.
 *
 * Loading has two phases because the plugin list decides which tables exist: read `plugins`, load those
 * definitions (built-ins or module paths relative to the config file), then validate everything at once.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseTomlText, TomlError } from 'smol-toml';
import { z } from 'zod';
import { currentCatalogue, type PluginLoader } from './catalogue.ts';
import { ConfigError, type ConfigIssue, formatIssues } from './config-errors.ts';
import { usableCpus } from './cpus.ts';
import { listenersSchema } from './listen.ts';
import type { PluginDefinition } from './plugin.ts';
import { byteSize, duration, listenHost } from './units.ts';

export { ConfigError } from './config-errors.ts';

/** An integer in `[min, max]`, with an error message that says so. */
function intRange(min: number, max: number) {
  return z
    .int({ error: `expected an integer from ${min} to ${max}` })
    .min(min, {
      error: `expected an integer from ${min} to ${max}`,
    })
    .max(max, { error: `expected an integer from ${min} to ${max}` });
}

/** `[server]`: listeners, workers, HTTP limits and timeouts. */
export const serverSchema = z.strictObject({
  /** Address to listen on. `0.0.0.0` or `::` listens on every interface. @default "127.0.0.1" */
  host: listenHost().default('127.0.0.1'),
  /** TCP port; 0 picks a free one (printed at start-up). @default 8080 */
  port: intRange(0, 65535).default(8080),
  /** Worker threads sharing the port (SO_REUSEPORT); 0 = one per usable CPU (affinity mask and cgroup
   * CPU quota: a container's limit). @default 0 */
  workers: intRange(0, 1024).default(0),
  /** Open connections per worker; more are closed at once. @default 10000 */
  max_connections: intRange(1, 10_000_000).default(10_000),
  /** Requests served on one keep-alive connection before it is closed. @default 1000 */
  max_requests_per_connection: intRange(1, 1_000_000_000).default(1000),
  /** Idle time allowed between two requests on a keep-alive connection. @default "5s" */
  keepalive_timeout: duration().prefault('5s'),
  /** Time to receive a whole request head once it started (slowloris). @default "10s" */
  header_timeout: duration().prefault('10s'),
  /** Idle time allowed between two reads of a request body. @default "30s" */
  body_timeout: duration().prefault('30s'),
  /** How long SIGTERM/SIGINT waits for in-flight requests before closing connections. @default "10s" */
  shutdown_timeout: duration().prefault('10s'),
  /** Longest request line; longer → 414. @default "8KiB" */
  max_request_line: byteSize().prefault('8KiB'),
  /** Largest request head (request line + header fields); larger → 431. @default "16KiB" */
  max_head_size: byteSize().prefault('16KiB'),
  /** Most header fields in one request; more → 431. @default 100 */
  max_headers: intRange(1, 10_000).default(100),
  /** Largest request body; larger → 413. @default "10MiB" */
  max_body_size: byteSize().prefault('10MiB'),
  /**
   * Run as this user (name or uid) once every listener is bound: start as root, bind ports below 1024,
   * then drop root (src/server/privileges.ts). @default none: stay who started it
   */
  user: z
    .string({ error: 'expected a user name or uid' })
    .regex(/^([a-z_][a-z0-9_.-]*\$?|\d+)$/i, { error: 'expected a user name or uid' })
    .optional(),
  /** Group to run as (name or gid) with `user`. @default the user's primary group */
  group: z
    .string({ error: 'expected a group name or gid' })
    .regex(/^([a-z_][a-z0-9_.-]*\$?|\d+)$/i, { error: 'expected a group name or gid' })
    .optional(),
  /**
   * Listeners (plain, TLS, redirect to https, h2c; src/server/listen.ts). When given, they replace the
   * single plain listener of `host`/`port`. @default []
   */
  listen: listenersSchema.default([]),
});

/** The validated `[server]` table (sizes in bytes, durations in milliseconds). */
export type ServerConfig = z.output<typeof serverSchema>;

/** A validated configuration. Plugin tables (`static`, `cache`, …) hold each plugin's parsed options. */
export interface TamarinConfig {
  /** Plugins in stage order: built-in names or module paths. */
  plugins: string[];
  server: ServerConfig;
  [table: string]: unknown;
}

/** Where a resolved `TamarinConfig` keeps the raw input it was validated from. */
export const RAW_CONFIG = Symbol('tamarin.rawConfig');

/** The raw input of a resolved config (to validate again, e.g. in a worker), or `undefined`. */
export function rawConfigOf(config: object): Record<string, unknown> | undefined {
  return (config as { [RAW_CONFIG]?: Record<string, unknown> })[RAW_CONFIG];
}

/** One plugin of the configuration, ready to be instantiated by a worker. */
export interface PluginEntry {
  /** The plugin's name (its table in the config file). */
  readonly name: string;
  /** As written in `plugins`: a built-in name or a module path. */
  readonly spec: string;
  readonly definition: PluginDefinition;
  /** Parsed options (the plugin's schema output), without `enabled`. */
  readonly options: unknown;
  /** `false` when its table says `enabled = false`: the host then leaves it out of every stage. */
  readonly enabled: boolean;
}

/** The result of loading a configuration. */
export interface ResolvedConfig {
  readonly config: TamarinConfig;
  readonly plugins: readonly PluginEntry[];
  /** Directory relative paths (module plugins, `static.root`, `access_log.path`) are resolved against. */
  readonly baseDir: string;
}

/** Parse TOML text into a plain object; syntax errors become a `ConfigError` with line and column. */
export function parseToml(text: string, fileName = 'config'): Record<string, unknown> {
  try {
    return parseTomlText(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      throw new ConfigError([
        { path: `${fileName}:${error.line}:${error.column}`, message: `invalid TOML: ${reason}` },
      ]);
    }
    throw error;
  }
}

/** Number of workers `workers = 0` stands for: the CPUs this process may use (affinity, cgroup quota). */
export function effectiveWorkers(server: ServerConfig): number {
  return server.workers === 0 ? usableCpus() : server.workers;
}

/**
 * Keys holding file paths, resolved against the config file's directory so that a config works from any
 * current directory (`-` means stdout for the access log). `map`: a table whose values are paths.
 */
const PATH_KEYS: ReadonlyArray<readonly [table: string, key: string, kind: 'path' | 'map']> = [
  ['static', 'root', 'path'],
  ['static', 'hosts', 'map'],
  ['access_log', 'path', 'path'],
  ['cache', 'state_file', 'path'],
];

/** Resolve one path value (a string that is not empty and not `-`); anything else is left to the schema. */
function resolvePath(baseDir: string, value: unknown): unknown {
  return typeof value === 'string' && value !== '' && value !== '-' ? path.resolve(baseDir, value) : value;
}

/** Resolve the path-valued keys of one plugin table (a copy is changed, not the caller's object). */
function resolvePaths(name: string, table: Record<string, unknown>, baseDir: string): void {
  for (const [owner, key, kind] of PATH_KEYS) {
    if (owner !== name || !(key in table)) continue;
    const value = table[key];
    if (kind === 'path') table[key] = resolvePath(baseDir, value);
    else if (isTable(value)) {
      table[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolvePath(baseDir, v)]));
    }
  }
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPluginDefinition(value: unknown): value is PluginDefinition {
  if (!isTable(value)) return false;
  const options = value.options as { safeParse?: unknown } | undefined;
  return (
    typeof value.name === 'string' &&
    typeof value.create === 'function' &&
    typeof options?.safeParse === 'function'
  );
}

/** Load the definition behind one `plugins` entry. */
async function loadDefinition(spec: string, index: number, baseDir: string): Promise<PluginDefinition> {
  const at = `plugins[${index}]`;
  if (spec.startsWith('.') || spec.startsWith('/')) {
    const file = path.resolve(baseDir, spec);
    let module: { default?: unknown };
    try {
      module = await import(pathToFileURL(file).href);
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new ConfigError([{ path: at, message: `cannot load plugin module "${file}": ${reason}` }]);
    }
    if (!isPluginDefinition(module.default)) {
      throw new ConfigError([
        {
          path: at,
          message: `"${file}" must export a plugin definition as default ({ name, options, create })`,
        },
      ]);
    }
    return module.default;
  }
  const loader = currentCatalogue().plugins.get(spec);
  if (loader === undefined) {
    const known = [...currentCatalogue().plugins.keys()].join(', ');
    throw new ConfigError([
      {
        path: at,
        message: `unknown plugin "${spec}" (built-in: ${known}; a module path starts with "./" or "/")`,
      },
    ]);
  }
  try {
    return await loader();
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ConfigError([{ path: at, message: `built-in plugin "${spec}" failed to load: ${reason}` }]);
  }
}

/** Built-ins of the default list whose modules are present in this build. */
async function availableDefaults(): Promise<string[]> {
  const names: string[] = [];
  const catalogue = currentCatalogue();
  for (const name of catalogue.defaults) {
    try {
      await catalogue.plugins.get(name)?.();
      names.push(name);
    } catch (error) {
      // A default whose module is not in this build is skipped; listed explicitly it is an error.
      if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    }
  }
  return names;
}

/**
 * Services an enabled plugin requires (for its options) that no enabled plugin provides: one issue each,
 * naming the plugin that needs it and the one that would provide it.
 */
async function missingServices(
  entries: readonly PluginEntry[],
  builtins: ReadonlyMap<string, PluginLoader>,
): Promise<ConfigIssue[]> {
  const running = entries.filter((entry) => entry.enabled);
  const provided = new Set(running.flatMap((entry) => (entry.definition.provides ?? []).map((k) => k.name)));
  const issues: ConfigIssue[] = [];
  for (const entry of running) {
    for (const key of entry.definition.requires?.(entry.options as never) ?? []) {
      if (provided.has(key.name)) continue;
      const listed = entries.find((other) => other.definition.provides?.some((k) => k.name === key.name));
      let provider = listed?.name;
      for (const [name, load] of builtins) {
        if (provider !== undefined) break;
        const definition = await load().catch(() => undefined);
        if (definition?.provides?.some((k) => k.name === key.name)) provider = name;
      }
      const needs = `plugin "${entry.name}" needs the "${key.name}" service`;
      const message =
        provider === undefined
          ? `${needs}, which no known plugin provides`
          : listed !== undefined
            ? `${needs}, which plugin "${provider}" provides, but [${provider}] has enabled = false`
            : `${needs}, which plugin "${provider}" provides: add "${provider}" to plugins`;
      issues.push({ path: 'plugins', message });
    }
  }
  return issues;
}

/**
 * Validate a raw configuration (parsed TOML, possibly with CLI overrides merged in). Throws a
 * `ConfigError` listing every problem found.
 */
export async function resolveConfig(
  raw: unknown,
  options: { baseDir?: string } = {},
): Promise<ResolvedConfig> {
  const baseDir = path.resolve(options.baseDir ?? process.cwd());
  if (!isTable(raw)) throw new ConfigError([{ path: '(root)', message: 'expected a table of settings' }]);
  const listed = z.array(z.string().min(1, { error: 'expected a plugin name or module path' }), {
    error: 'expected an array of plugin names or module paths',
  });
  const specsResult =
    raw.plugins === undefined ? undefined : listed.safeParse(raw.plugins, { reportInput: true });
  if (specsResult && !specsResult.success)
    throw new ConfigError(formatIssues(specsResult.error.issues, ['plugins']));
  const specs = specsResult?.data ?? (await availableDefaults());

  const definitions: PluginDefinition[] = [];
  for (const [index, spec] of specs.entries()) {
    const definition = await loadDefinition(spec, index, baseDir);
    if (definitions.some((other) => other.name === definition.name)) {
      throw new ConfigError([
        { path: `plugins[${index}]`, message: `plugin "${definition.name}" is listed twice` },
      ]);
    }
    definitions.push(definition);
  }
  // Tables of built-ins that are not listed are still validated, so a typo is caught before it matters.
  const { plugins: builtins, tables: serviceTables, optionalTables = new Set<string>() } = currentCatalogue();
  const tableOnly: PluginDefinition[] = [];
  for (const key of Object.keys(raw)) {
    const loader = builtins.get(key);
    if (loader !== undefined && !definitions.some((d) => d.name === key)) {
      try {
        tableOnly.push(await loader());
      } catch {
        // Not in this build: the table is kept as is.
      }
    }
  }

  const shape: Record<string, z.ZodType> = {
    plugins: z.unknown().optional(),
    server: serverSchema.prefault({}),
  };
  // Tables of the primary's services (`[admin]`, `[tls]`, `[http2]`), unless a plugin of that name owns
  // the table; an optional one (`[tls]`) is absent from the config when the file has none.
  const services = [...serviceTables].filter(([name]) => !definitions.some((d) => d.name === name));
  for (const [name, schema] of services)
    shape[name] = optionalTables.has(name) ? schema.optional() : schema.prefault({});
  for (const definition of [...definitions, ...tableOnly]) shape[definition.name] = z.unknown().optional();
  const issues: ConfigIssue[] = [];
  const tables = new Map<string, PluginDefinition>([...definitions, ...tableOnly].map((d) => [d.name, d]));
  // Keys allowed at a path, for "did you mean" hints on unknown keys (top level and one table down).
  const keysAt = (at: readonly PropertyKey[]): readonly string[] | undefined => {
    if (at.length === 0) return [...Object.keys(shape), ...builtins.keys()];
    if (at.length !== 1) return undefined;
    if (at[0] === 'server') return Object.keys(serverSchema.shape);
    const service = services.find(([name]) => name === at[0]);
    if (service !== undefined) return Object.keys(service[1].shape);
    const options = tables.get(String(at[0]))?.options as { shape?: Record<string, unknown> } | undefined;
    return options?.shape === undefined ? undefined : ['enabled', ...Object.keys(options.shape)];
  };
  const top = z.strictObject(shape).safeParse(raw, { reportInput: true });
  if (!top.success) issues.push(...formatIssues(top.error.issues, [], keysAt));

  const config: TamarinConfig = {
    plugins: specs,
    server: top.success ? (top.data.server as ServerConfig) : ({} as ServerConfig),
  };
  for (const [name] of services)
    if (top.success && top.data[name] !== undefined) config[name] = top.data[name];
  if (top.success && config.server.listen.some((l) => l.tls) && config.tls === undefined) {
    issues.push({
      path: 'server.listen',
      message: 'a listener with tls = true needs a [tls] table with cert and key (PEM files)',
    });
  }
  const entries: PluginEntry[] = [];
  for (const [index, definition] of [...definitions, ...tableOnly].entries()) {
    const table = raw[definition.name] ?? {};
    if (!isTable(table)) {
      issues.push({ path: definition.name, message: 'expected a table', input: table });
      continue;
    }
    const { enabled = true, ...rest } = table;
    if (typeof enabled !== 'boolean') {
      issues.push({ path: `${definition.name}.enabled`, message: 'expected true or false', input: enabled });
    }
    resolvePaths(definition.name, rest, baseDir);
    const parsed = definition.options.safeParse(rest, { reportInput: true });
    if (!parsed.success) {
      issues.push(...formatIssues(parsed.error.issues, [definition.name], keysAt));
      continue;
    }
    const options = parsed.data;
    config[definition.name] = isTable(options) ? { ...options, enabled: enabled === true } : options;
    if (index < definitions.length) {
      entries.push({
        name: definition.name,
        spec: specs[index]!,
        definition,
        options,
        enabled: enabled === true,
      });
    }
  }
  if (issues.length === 0) issues.push(...(await missingServices(entries, builtins)));
  if (issues.length > 0) throw new ConfigError(issues);
  // Schemas may turn strings into objects (RegExp, URL) that do not validate twice; workers re-resolve
  // the configuration from this raw form. Not enumerable: printing the config does not show it.
  Object.defineProperty(config, RAW_CONFIG, { value: structuredClone(raw) });
  return { config, plugins: entries, baseDir };
}

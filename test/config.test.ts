import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_POLICY } from '../src/cache/policies/index.ts';
import '../src/main/builtins.ts';
import { effectiveWorkers, parseToml, rawConfigOf, resolveConfig } from '../src/server/config.ts';
import { ConfigError } from '../src/server/config-errors.ts';
import { usableCpus } from '../src/server/cpus.ts';
import { tlsSchema } from '../src/tls/options.ts';

/** Resolve TOML text; return the error lines (or [] when valid). */
async function errorsOf(toml: string, baseDir = os.tmpdir()): Promise<string[]> {
  try {
    await resolveConfig(parseToml(toml, 'tamarin.toml'), { baseDir });
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.lines();
  }
}

const ONLY_LOG = 'plugins = ["access_log"]\n';

describe('config errors name the key and what was expected', () => {
  const table: Array<[string, string]> = [
    ['[server]\nport = "abc"', 'server.port: expected an integer from 0 to 65535, got "abc"'],
    ['[server]\nport = 70000', 'server.port: expected an integer from 0 to 65535, got 70000'],
    ['[server]\nport = 80.5', 'server.port: expected an integer from 0 to 65535, got 80.5'],
    ['[server]\nworkers = -1', 'server.workers: expected an integer from 0 to 1024, got -1'],
    ['[server]\nhost = 5', 'server.host: expected a host name or IP address, got 5'],
    ['[server]\nprot = 80', 'server.prot: unknown key (did you mean "port"?)'],
    ['[server]\nlisten = 80', 'server.listen: expected an array of listener tables, got 80'],
    ['[server]\nlisten_on = 80', 'server.listen_on: unknown key'],
    ['server = 5', 'server: expected a table, got 5'],
    ['bogus = 1', 'bogus: unknown key (not a setting, nor a plugin in "plugins")'],
    ['[acces_log]\nformat = "json"', 'acces_log: unknown key (did you mean "access_log"?)'],
    [
      '[server]\nkeepalive_timeout = "5 parsecs"',
      'server.keepalive_timeout: expected a duration such as "250ms", "5s" or "1m", got "5 parsecs"',
    ],
    [
      '[server]\nmax_body_size = "lots"',
      'server.max_body_size: expected a size such as "64KiB" or "256MiB", got "lots"',
    ],
    ['[server]\nmax_body_size = true', 'server.max_body_size: expected a number or a string, got true'],
    ['[server]\nmax_headers = 0', 'server.max_headers: expected an integer from 1 to 10000, got 0'],
    [
      '[access_log]\nformat = "xml"',
      'access_log.format: expected "combined", "json" or a template with $variables, got "xml"',
    ],
    ['[access_log]\nenabled = "no"', 'access_log.enabled: expected true or false, got "no"'],
    ['access_log = 3', 'access_log: expected a table, got 3'],
    ['[access_log]\ncolour = "red"', 'access_log.colour: unknown key'],
    ['[access_log]\nformats = "json"', 'access_log.formats: unknown key (did you mean "format"?)'],
  ];
  for (const [body, expected] of table) {
    it(expected, async () => {
      assert.deepEqual(await errorsOf(ONLY_LOG + body), [`config error: ${expected}`]);
    });
  }

  it('plugins must be a list of names or paths', async () => {
    assert.deepEqual(await errorsOf('plugins = "static"'), [
      'config error: plugins: expected an array of plugin names or module paths, got "static"',
    ]);
    assert.deepEqual(await errorsOf('plugins = ["access_log", 3]'), [
      'config error: plugins[1]: expected a string, got 3',
    ]);
  });

  it('an unknown plugin lists the built-ins', async () => {
    assert.deepEqual(await errorsOf('plugins = ["acces_log"]'), [
      'config error: plugins[0]: unknown plugin "acces_log" (built-in: real_ip, access_log, access, headers, rewrite, compress, cache, proxy, static; ' +
        'a module path starts with "./" or "/")',
    ]);
  });

  it('a plugin listed twice', async () => {
    assert.deepEqual(await errorsOf('plugins = ["access_log", "access_log"]'), [
      'config error: plugins[1]: plugin "access_log" is listed twice',
    ]);
  });

  it('a module path that cannot be loaded, or exports no plugin', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-config-'));
    try {
      const [missing] = await errorsOf('plugins = ["./missing.ts"]', dir);
      assert.match(missing!, /^config error: plugins\[0\]: cannot load plugin module ".*missing\.ts": /);
      fs.writeFileSync(path.join(dir, 'not-a-plugin.mjs'), 'export default { name: "x" };\n');
      assert.deepEqual(await errorsOf('plugins = ["./not-a-plugin.mjs"]', dir), [
        `config error: plugins[0]: "${path.join(dir, 'not-a-plugin.mjs')}" must export a plugin definition ` +
          'as default ({ name, options, create })',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports every problem at once', async () => {
    assert.deepEqual(await errorsOf(`${ONLY_LOG}[server]\nport = -1\nnope = 1\n[access_log]\npath = ""`), [
      'config error: server.port: expected an integer from 0 to 65535, got -1',
      'config error: server.nope: unknown key',
      'config error: access_log.path: expected a non-empty string, got ""',
    ]);
  });

  it('TOML syntax errors give file, line and column', async () => {
    assert.deepEqual(await errorsOf('[server]\nport = = 1\n'), [
      'config error: tamarin.toml:2:8: invalid TOML: invalid value',
    ]);
  });
});

describe('config defaults and values', () => {
  it('fills in every server default', async () => {
    const { config } = await resolveConfig({ plugins: ['access_log'] });
    assert.deepEqual(config.server, {
      host: '127.0.0.1',
      port: 8080,
      workers: 0,
      max_connections: 10_000,
      max_requests_per_connection: 1000,
      keepalive_timeout: 5000,
      header_timeout: 10_000,
      body_timeout: 30_000,
      shutdown_timeout: 10_000,
      max_request_line: 8192,
      max_head_size: 16_384,
      max_headers: 100,
      max_body_size: 10 * 1024 * 1024,
      listen: [],
    });
    assert.deepEqual(config.access_log, { enabled: true, format: 'combined', path: '-' });
  });

  it('runs real_ip, access_log, access, headers, rewrite, compress, cache, proxy and static by default, in that stage order', async () => {
    const { plugins } = await resolveConfig({});
    assert.deepEqual(
      plugins.map((p) => p.name),
      ['real_ip', 'access_log', 'access', 'headers', 'rewrite', 'compress', 'cache', 'proxy', 'static'],
    );
  });

  it('reads sizes and durations in units or as plain numbers', async () => {
    const { config } = await resolveConfig(
      parseToml(
        `${ONLY_LOG}[server]\nmax_body_size = "64 KiB"\nmax_head_size = 4096\nkeepalive_timeout = "1.5s"\n` +
          'header_timeout = 250\nshutdown_timeout = "2m"\nmax_request_line = "1kb"',
      ),
    );
    assert.equal(config.server.max_body_size, 65_536);
    assert.equal(config.server.max_head_size, 4096);
    assert.equal(config.server.keepalive_timeout, 1500);
    assert.equal(config.server.header_timeout, 250);
    assert.equal(config.server.shutdown_timeout, 120_000);
    assert.equal(config.server.max_request_line, 1000);
  });

  it('enabled = false keeps the plugin out of the server', async () => {
    const { plugins, config } = await resolveConfig({
      plugins: ['access_log'],
      access_log: { enabled: false },
    });
    assert.equal(plugins[0]!.enabled, false);
    assert.deepEqual(config.access_log, { enabled: false, format: 'combined', path: '-' });
  });

  it('resolves file paths against the config file directory', async () => {
    // The log's directory must exist (a config error otherwise): a real one under a temporary base.
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-config-base-'));
    fs.mkdirSync(path.join(base, 'logs'));
    const { config } = await resolveConfig(
      { plugins: ['access_log'], access_log: { path: 'logs/access.log' } },
      { baseDir: base },
    );
    assert.equal((config.access_log as { path: string }).path, path.join(base, 'logs/access.log'));
    fs.rmSync(base, { recursive: true });
    const withStatic = await resolveConfig(
      { plugins: ['static'], static: { root: 'site', hosts: { 'a.example': 'site/images' } } },
      { baseDir: process.cwd() },
    );
    const options = withStatic.config.static as { root: string; hosts: Record<string, string> };
    assert.equal(options.root, path.resolve('site'));
    assert.deepEqual(options.hosts, { 'a.example': path.resolve('site/images') });
  });

  it('static.root and static.hosts roots are both relative to the config file, not the working directory', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-config-roots-'));
    try {
      fs.mkdirSync(path.join(dir, 'www'));
      fs.mkdirSync(path.join(dir, 'www-b'));
      assert.notEqual(dir, process.cwd());
      const { config } = await resolveConfig(
        {
          plugins: ['static'],
          static: { root: 'www', hosts: { 'b.example': 'www-b', 'c.example': './www' } },
        },
        { baseDir: dir },
      );
      const options = config.static as { root: string; hosts: Record<string, string> };
      assert.equal(options.root, path.join(dir, 'www'));
      assert.deepEqual(options.hosts, {
        'b.example': path.join(dir, 'www-b'),
        'c.example': path.join(dir, 'www'),
      });
      // A host root that is missing is named with the path it was looked for at.
      await assert.rejects(
        resolveConfig(
          { plugins: ['static'], static: { hosts: { 'd.example': 'nowhere' } } },
          { baseDir: dir },
        ),
        (error: ConfigError) => {
          assert.deepEqual(error.lines(), [
            `config error: static.hosts.d.example: expected an existing directory, got "${path.join(dir, 'nowhere')}"`,
          ]);
          return true;
        },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('[admin] is validated strictly: defaults filled in, unknown keys named with a hint', async () => {
    const { config } = await resolveConfig({ plugins: ['access_log'], admin: { port: 9000 } });
    assert.deepEqual(config.admin, {
      enabled: true,
      host: '127.0.0.1',
      port: 9000,
      allowed_hosts: [],
      max_event_streams_per_client: 8,
    });
    await assert.rejects(
      resolveConfig({ plugins: ['access_log'], admin: { prot: 1 } }),
      (error: ConfigError) => {
        assert.deepEqual(error.lines(), ['config error: admin.prot: unknown key (did you mean "port"?)']);
        return true;
      },
    );
  });

  it('re-validating a resolved config gives the same config (workers re-resolve it)', async () => {
    const first = await resolveConfig({
      plugins: ['access_log'],
      server: { port: 0, max_body_size: '1MiB' },
    });
    const again = await resolveConfig(structuredClone(first.config));
    assert.deepEqual(again.config, first.config);
    // Schemas that build objects (the proxy's RegExp) do not validate twice: the raw form travels along.
    assert.deepEqual(rawConfigOf(first.config), {
      plugins: ['access_log'],
      server: { port: 0, max_body_size: '1MiB' },
    });
  });

  it('workers = 0 means one per usable CPU (affinity mask, cgroup quota: src/server/cpus.test.ts)', async () => {
    const { config } = await resolveConfig({ plugins: ['access_log'] });
    assert.equal(effectiveWorkers(config.server), usableCpus());
    assert.ok(effectiveWorkers(config.server) <= os.availableParallelism());
    assert.equal(effectiveWorkers({ ...config.server, workers: 3 }), 3);
  });

  it('tamarin.example.toml is valid as shipped and with every setting uncommented', async () => {
    const text = fs.readFileSync('tamarin.example.toml', 'utf8');
    const shipped = await resolveConfig(parseToml(text));
    const uncommented = text
      .replace(/^# (?=\[|"?[\w.-]+"? = )/gm, '')
      .replace('"/srv/example"', JSON.stringify(path.resolve('site')))
      .replace('token = "…"', 'token = "an-example-admin-token"');
    assert.notEqual(uncommented, text);
    const all = await resolveConfig(parseToml(uncommented, 'uncommented.toml'));
    // user/group have no default (stay who started it): the example shows a value.
    const { user, group, listen, ...server } = all.config.server;
    assert.deepEqual([user, group], ['tamarin', 'tamarin']);
    const { listen: noListeners, ...shippedServer } = shipped.config.server;
    assert.deepEqual(server, shippedServer, 'the documented [server] values are the defaults');
    assert.deepEqual(noListeners, []);
    assert.deepEqual(
      listen.map((l) => [l.port, l.tls, l.redirect_https]),
      [
        [443, true, false],
        [80, false, true],
      ],
    );
    const {
      cert: _cert,
      key: _key,
      certificates,
      acme,
      ...tlsTable
    } = all.config.tls as Record<string, unknown>;
    assert.deepEqual((acme as { names: string[] }).names, ['example.com', 'www.example.com']);
    const { certificates: _none, ...tlsDefaults } = tlsSchema.parse({});
    assert.deepEqual(
      tlsTable,
      { ...tlsDefaults, ciphers: tlsTable.ciphers },
      'the documented [tls] values are the defaults',
    );
    assert.equal((certificates as unknown[]).length, 1);
    assert.deepEqual(
      all.config.http2,
      shipped.config.http2,
      'the documented [http2] values are the defaults',
    );
    assert.equal((all.config.proxy as { routes: unknown[] }).routes.length, 1);
    const { token, ...admin } = all.config.admin as { token?: string };
    assert.equal(token, 'an-example-admin-token');
    assert.deepEqual(admin, shipped.config.admin, 'the documented [admin] values are the defaults');
    const policy = (config: Record<string, unknown>) => (config.cache as { policy: string }).policy;
    assert.equal(policy(all.config), DEFAULT_POLICY, 'the documented cache policy is the default');
    assert.equal(policy(shipped.config), DEFAULT_POLICY);
  });
});

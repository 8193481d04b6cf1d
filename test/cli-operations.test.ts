/**
 * Operating `tamarin serve` as an nginx user would: signals (HUP reloads, USR1 reopens the access log and
 * never opens Node's inspector, USR2 is logged and ignored, TERM drains), `tamarin reload`, and start-up
 * that fails early and loudly (exit code + message naming the key or the reason).
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { supportsReusePort } from '../src/server/start.ts';

const CLI = path.resolve('src/cli.ts');

function start(args: string[], cwd = process.cwd()): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [CLI, ...args], { cwd });
}

/** Run the CLI to completion (bounded). */
function run(args: string[], cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = start(args, cwd);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tamarin ${args.join(' ')} did not finish: ${stderr}`));
    }, 40_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A port free right now (for the admin listener, which `tamarin reload` must find by its config). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('tamarin serve and signals', () => {
  let dir: string;
  let child: ChildProcessWithoutNullStreams;
  let stderr = '';
  let url: string;
  let exited: Promise<number | null>;
  const file = () => path.join(dir, 'tamarin.toml');
  let config: (extra?: string) => string;

  /** Wait until stderr matches `pattern` (bounded). */
  async function waitFor(pattern: RegExp, ms = 15_000): Promise<RegExpExecArray> {
    for (let waited = 0; waited < ms; waited += 25) {
      const match = pattern.exec(stderr);
      if (match !== null) return match;
      await sleep(25);
    }
    throw new Error(`no ${pattern} in:\n${stderr}`);
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-ops-'));
    fs.mkdirSync(path.join(dir, 'www'));
    fs.writeFileSync(path.join(dir, 'www/hello.txt'), 'hello\n');
    const adminPort = await freePort();
    config = (extra = '') =>
      `[server]\nport = 0\nworkers = 2\n[admin]\nport = ${adminPort}\n` +
      `[access_log]\npath = "access.log"\n[static]\nroot = "www"\n${extra}`;
    fs.writeFileSync(file(), config());
    child = start(['serve', '--config', file()]);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    exited = new Promise((resolve) => child.once('exit', resolve));
    url = (await waitFor(/at (http:\/\/127\.0\.0\.1:\d+) \(2 workers/))[1]!;
    await waitFor(/admin token .*\n/);
  });
  after(async () => {
    child?.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('USR1 reopens the access log at its path after a rename, and opens no inspector', async () => {
    assert.equal((await fetch(`${url}/hello.txt?before`)).status, 200);
    const log = path.join(dir, 'access.log');
    for (let i = 0; i < 100 && !fs.readFileSync(log, 'utf8').includes('?before'); i++) await sleep(25);
    fs.renameSync(log, `${log}.1`);
    child.kill('SIGUSR1');
    await waitFor(/tamarin: SIGUSR1 received, reopening log files\n/);
    // The reopen reaches the workers through control calls: wait until the new file exists.
    for (let i = 0; i < 200 && !fs.existsSync(log); i++) await sleep(25);
    assert.equal((await fetch(`${url}/hello.txt?after`)).status, 200);
    for (let i = 0; i < 100 && !fs.readFileSync(log, 'utf8').includes('?after'); i++) await sleep(25);
    assert.match(fs.readFileSync(log, 'utf8'), /"GET \/hello\.txt\?after HTTP\/1\.1" 200 /);
    assert.doesNotMatch(fs.readFileSync(`${log}.1`, 'utf8'), /\?after/);
    // Node's default for SIGUSR1 is to open its inspector (remote code execution) on 127.0.0.1:9229.
    assert.doesNotMatch(stderr, /Debugger listening/);
    assert.equal(await listening(9229), false, 'something listens on 127.0.0.1:9229');
  });

  it('USR2 is logged and ignored', async () => {
    child.kill('SIGUSR2');
    await waitFor(/tamarin: SIGUSR2 received: ignored/);
    assert.equal((await fetch(`${url}/hello.txt`)).status, 200);
  });

  it('HUP reloads a changed config; an invalid one is logged and the old one keeps serving', async () => {
    assert.equal((await fetch(`${url}/hello.txt`)).headers.get('cache-control'), null);
    fs.writeFileSync(file(), config('max_age = "1h"\n'));
    child.kill('SIGHUP');
    await waitFor(/tamarin: SIGHUP received, reloading the configuration\n/);
    await waitFor(/reload 1: new configuration serving \(changed: static\)\n/);
    assert.equal((await fetch(`${url}/hello.txt`)).headers.get('cache-control'), 'public, max-age=3600');
    fs.writeFileSync(file(), config('max_age = "1h"\nlisting = "yes"\n'));
    child.kill('SIGHUP');
    await waitFor(
      /reload failed, still serving the previous configuration: config error: static\.listing: expected true or false, got "yes"\n/,
    );
    assert.equal((await fetch(`${url}/hello.txt`)).headers.get('cache-control'), 'public, max-age=3600');
  });

  it('tamarin reload: exit 0 when applied, 2 with the key when refused', async () => {
    fs.writeFileSync(file(), config());
    const ok = await run(['reload', '--config', file()]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(
      ok.stderr,
      /^tamarin: reloaded: the server at http:\/\/127\.0\.0\.1:\d+ serves the new configuration \(changed: static\)\n$/,
    );
    assert.equal((await fetch(`${url}/hello.txt`)).headers.get('cache-control'), null);
    fs.writeFileSync(file(), config().replace('workers = 2', 'workers = 3'));
    const refused = await run(['reload', '--config', file()]);
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /^config error: server\.workers: cannot change on reload \(2 → 3\): restart the server to apply it, or change it back\ntamarin: reload refused: the server keeps serving its previous configuration\n$/,
    );
    assert.equal((await fetch(`${url}/hello.txt`)).status, 200);
  });

  it('TERM drains and exits 0', async () => {
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(stderr, /tamarin: SIGTERM received, draining/);
  });
});

describe('tamarin reload without a server', () => {
  it('says nobody answers (exit 1)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-ops-'));
    try {
      fs.writeFileSync(path.join(dir, 't.toml'), `[admin]\nport = ${await freePort()}\n`);
      const { code, stderr } = await run(['reload', '-c', path.join(dir, 't.toml')]);
      assert.equal(code, 1);
      assert.match(stderr, /^tamarin: no server answers at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('start-up fails early and names the cause', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-startup-'));
    fs.mkdirSync(path.join(dir, 'www'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** `check` and `serve` of `toml` both exit 2 with exactly `message` (serve never prints its banner). */
  async function refused(name: string, toml: string, message: RegExp): Promise<void> {
    const file = path.join(dir, `${name}.toml`);
    fs.writeFileSync(file, `[admin]\nenabled = false\n[server]\nport = 0\n${toml}`);
    for (const command of ['check', 'serve']) {
      const { code, stdout, stderr } = await run([command, '--config', file]);
      assert.equal(code, 2, `${command}: ${stderr}`);
      assert.equal(stdout, '');
      assert.match(stderr, message, command);
      assert.doesNotMatch(stderr, /serving|^\s+at /m);
    }
  }

  it('an access log in a missing directory', async () => {
    await refused(
      'log',
      '[access_log]\npath = "logs/access.log"\n',
      /^config error: access_log\.path: the directory .*logs does not exist, got ".*logs\/access\.log"\n$/,
    );
  });

  it('a listen address that is not an address', async () => {
    await refused(
      'host',
      'host = "not an ip"\n',
      /^config error: server\.host: expected an IP address \(e\.g\. "0\.0\.0\.0", "::", "127\.0\.0\.1"\) or a host name, without brackets or port, got "not an ip"\n$/,
    );
  });

  it('a wildcard virtual host', async () => {
    await refused(
      'wildcard',
      `[static]\nroot = "www"\n[static.hosts]\n"*.example.com" = "www"\n`,
      /^config error: static\.hosts\."\*\.example\.com": wildcard host names are not supported/,
    );
  });

  it('a configured error page that is not there', async () => {
    await refused(
      'pages',
      '[static]\nroot = "www"\n[static.error_pages]\n"500" = "oops.html"\n',
      /^config error: static\.error_pages\.500: expected a file under the document root \(.*www\), got "oops\.html"\n$/,
    );
  });

  it('a worker that cannot start ends serve with exit 1 and the reason', async () => {
    fs.writeFileSync(
      path.join(dir, 'broken.mjs'),
      `import { z } from 'zod';\nexport default { name: 'broken', options: z.object({}), create() { throw new Error('no database at /var/db'); } };\n`,
    );
    fs.symlinkSync(path.resolve('node_modules'), path.join(dir, 'node_modules'));
    fs.writeFileSync(
      path.join(dir, 'broken.toml'),
      'plugins = ["./broken.mjs"]\n[admin]\nenabled = false\n[server]\nport = 0\nworkers = 2\n',
    );
    const { code, stderr } = await run(['serve', '--config', path.join(dir, 'broken.toml')]);
    assert.equal(code, 1);
    assert.match(stderr, /^tamarin: plugin "broken" failed to start: no database at \/var\/db\n$/);
  });

  it('a worker that crashes and cannot start again ends serve with exit 1 and the reason', {
    timeout: 60_000,
  }, async () => {
    // Starts once; after the marker file appears, every start fails; /crash crashes the worker.
    const marker = path.join(dir, 'broken-now');
    fs.writeFileSync(
      path.join(dir, 'flaky.mjs'),
      `import fs from 'node:fs';\nimport { z } from 'zod';\nexport default { name: 'flaky', options: z.object({}), create() {\n` +
        `  if (fs.existsSync(${JSON.stringify(marker)})) throw new Error('lost its data directory');\n` +
        `  return { name: 'flaky', handle(req, res) { setImmediate(() => { throw new Error('boom'); }); res.end('x'); return true; } };\n} };\n`,
    );
    fs.writeFileSync(
      path.join(dir, 'flaky.toml'),
      'plugins = ["./flaky.mjs"]\n[admin]\nenabled = false\n[server]\nport = 0\nworkers = 1\n',
    );
    const child = start(['serve', '--config', path.join(dir, 'flaky.toml')]);
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (chunk: string) => {
          stderr += chunk;
          const match = /at (http:\/\/127\.0\.0\.1:\d+) /.exec(stderr);
          if (match) resolve(match[1]!);
        });
        void exited.then(() => reject(new Error(`exited early: ${stderr}`)));
      });
      fs.writeFileSync(marker, '');
      await fetch(`${url}/crash`).catch(() => {});
      assert.equal(await exited, 1);
      assert.match(
        stderr,
        /\ntamarin: worker 0 cannot start \(5 attempts\): plugin "flaky" failed to start: lost its data directory\n$/,
      );
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
  });
});

describe('Node.js version', () => {
  it('reusePort (several workers) is known to need Node 22.12+ or 23.1+', () => {
    assert.equal(supportsReusePort('20.19.5'), false);
    assert.equal(supportsReusePort('22.11.0'), false);
    assert.equal(supportsReusePort('22.12.0'), true);
    assert.equal(supportsReusePort('23.0.0'), false);
    assert.equal(supportsReusePort('23.1.0'), true);
    assert.equal(supportsReusePort('24.11.1'), true);
  });
});

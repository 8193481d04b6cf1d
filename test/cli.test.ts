/** The `tamarin` command as a user runs it: exit codes, messages, start-up line, SIGTERM. */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

const VERSION = (JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string }).version;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], cwd = process.cwd()): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [path.resolve('src/cli.ts'), ...args], { cwd });
}

/** Run the CLI to completion (bounded). */
function run(args: string[], cwd?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = start(args, cwd);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tamarin ${args.join(' ')} did not finish: ${stderr}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const noStack = (text: string) => assert.doesNotMatch(text, /^\s+at /m, 'no stack trace');

describe('tamarin CLI', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-cli-'));
    fs.mkdirSync(path.join(dir, 'www'));
    fs.writeFileSync(path.join(dir, 'www/hello.txt'), 'hello from the cli test\n');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('--help prints usage and exits 0', async () => {
    const { code, stdout } = await run(['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage:\n {2}tamarin serve \[dir\] \[options\]/);
    assert.match(stdout, /tamarin check/);
    assert.match(stdout, /tamarin sim <trace>/);
  });

  it('--version prints the package version', async () => {
    const { code, stdout } = await run(['--version']);
    assert.equal(code, 0);
    assert.equal(stdout, `tamarin ${VERSION}\n`);
  });

  it('sim hands its arguments (and --help) to the cache simulator', async () => {
    const trace = path.join(dir, 'tiny.tr');
    fs.writeFileSync(trace, 'a 1\nb 1\na 1\nc 1\na 1\n');
    const { code, stdout } = await run(['sim', trace, '--policy', 'lru', '--size', '2']);
    assert.equal(code, 0);
    assert.match(stdout, /\| tiny \| 2 \|/);
    const help = await run(['sim', '--help']);
    assert.match(help.stdout + help.stderr, /usage: tamarin sim <trace>/);
  });

  it('an unknown flag or command is a usage error (exit 2)', async () => {
    const flag = await run(['serve', '--prot', '80']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^tamarin: unknown option "--prot"\n\nUsage:/);
    const command = await run(['srve']);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /^tamarin: unknown command "srve"/);
    const missing = await run(['serve', '--port']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^tamarin: option "--port" needs a value/);
  });

  it('check prints the effective config (flags override, paths from the file, secrets hidden), exits 0', async () => {
    // One config for several checks: every spawn costs a second or more on a loaded machine.
    const file = path.join(dir, 'ok.toml');
    fs.writeFileSync(
      file,
      '[server]\nport = 9000\nkeepalive_timeout = "2s"\n[admin]\nport = 0\ntoken = "hunter2-admin-token"\n' +
        '[static]\nroot = "www"\n[static.hosts]\n"b.example" = "./www"\n',
    );
    const toml = await run(['check', '--config', file]);
    assert.equal(toml.code, 0, toml.stderr);
    assert.match(toml.stdout, /\[server\]\nhost = "127\.0\.0\.1"\nport = 9000\n/);
    assert.match(toml.stdout, /keepalive_timeout = 2000\n/);
    assert.match(toml.stderr, /config ok: .*ok\.toml/);
    // A configured secret is never printed (the same rule as the admin's GET /api/config).
    assert.doesNotMatch(toml.stdout + toml.stderr, /hunter2/);
    assert.match(toml.stdout, /\[admin\]\n(.*\n)*token = "\[redacted\]"\n/);
    // From another directory: static.root and static.hosts roots are relative to the config file.
    const json = await run(['check', '--config', file, '--port', '9001', '--json'], os.tmpdir());
    assert.equal(json.code, 0, json.stderr);
    assert.doesNotMatch(json.stdout, /hunter2/);
    const config = JSON.parse(json.stdout) as {
      server: { port: number };
      plugins: string[];
      admin: { token: string; port: number };
      static: { root: string; hosts: Record<string, string> };
    };
    assert.equal(config.server.port, 9001);
    assert.deepEqual(config.plugins, [
      'real_ip',
      'access_log',
      'access',
      'headers',
      'rewrite',
      'compress',
      'cache',
      'proxy',
      'static',
    ]);
    assert.deepEqual([config.admin.token, config.admin.port], ['[redacted]', 0]);
    assert.equal(config.static.root, path.join(dir, 'www'));
    assert.deepEqual(config.static.hosts, { 'b.example': path.join(dir, 'www') });
  });

  it('check of a bad config names the key, exits 2, no stack trace', async () => {
    const file = path.join(dir, 'bad.toml');
    fs.writeFileSync(file, '[server]\nport = "abc"\nworkerz = 2\n');
    const { code, stdout, stderr } = await run(['check', '--config', file]);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.equal(
      stderr,
      'config error: server.port: expected an integer from 0 to 65535, got "abc"\n' +
        'config error: server.workerz: unknown key (did you mean "workers"?)\n',
    );
    const flag = await run(['check', '--port', 'http']);
    assert.equal(flag.code, 2);
    assert.equal(flag.stderr, 'config error: server.port: expected an integer from 0 to 65535, got "http"\n');
    const absent = await run(['check', '--config', path.join(dir, 'absent.toml')]);
    assert.equal(absent.code, 2);
    assert.match(absent.stderr, /^config error: .*absent\.toml: cannot read config file: no such file\n$/);
  });

  it('serve reports a taken port clearly (exit 1)', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const { code, stderr } = await run(['serve', path.join(dir, 'www'), '--port', String(port)]);
      assert.equal(code, 1);
      assert.equal(
        stderr,
        `tamarin: cannot listen on 127.0.0.1:${port}: the port is already in use ` +
          '(is another server running? choose another with --port)\n',
      );
      noStack(stderr);
    } finally {
      blocker.close();
    }
  });

  it('serve dir on port 0 prints one start-up block, serves the dir, and exits 0 on SIGTERM', async () => {
    // The admin on port 0: the default 9090 would be shared with tests running beside this one.
    fs.writeFileSync(path.join(dir, 'admin0.toml'), '[admin]\nport = 0\n');
    const child = start(['serve', 'www', '--config', 'admin0.toml', '--port', '0', '--workers', '1'], dir);
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (chunk: string) => {
          stderr += chunk;
          const match = /serving .* at (http:\/\/127\.0\.0\.1:\d+) [\s\S]*\nadmin token .*\n/.exec(stderr);
          if (match) resolve(match[1]!);
        });
        void exited.then(() => reject(new Error(`exited: ${stderr}`)));
      });
      // One block, serving line first: nothing (no plugin's own line) before or between.
      const lines = stderr.split('\n');
      assert.equal(lines.length, 4, stderr);
      assert.equal(
        lines[0],
        `tamarin ${VERSION} serving ${fs.realpathSync(path.join(dir, 'www'))} at ${url} ` +
          '(1 worker, plugins: real_ip, access_log, access, headers, rewrite, compress, cache, proxy, static)',
      );
      const admin = /^admin: (http:\/\/127\.0\.0\.1:\d+\/) \(dashboard\)$/.exec(lines[1]!)?.[1];
      assert.ok(admin !== undefined, lines[1]);
      const token = /^admin token \(generated, valid until restart\): (\S{32})$/.exec(lines[2]!)?.[1];
      assert.ok(token !== undefined, lines[2]);
      assert.equal(lines[3], '');
      const session = (await (await fetch(admin + 'api/session')).json()) as { token: string };
      assert.equal(session.token, token, 'the printed token is the admin token');
      const res = await fetch(url + '/hello.txt');
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'hello from the cli test\n');
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
  });
  it('--admin HOST:PORT moves the admin listener, --no-admin turns it off; bad values exit 2', async () => {
    for (const bad of ['9090', 'nope:9090', '127.0.0.1:70000', '127.0.0.1:', '::1:9090', '127.0.0.1:9x']) {
      const { code, stderr } = await run(['check', '--admin', bad]);
      assert.equal(code, 2, bad);
      assert.match(
        stderr,
        new RegExp(
          `^tamarin: option "--admin" expects HOST:PORT.*; got "${bad.replace(/[.*[\]]/g, '\\$&')}"\n\nUsage:`,
        ),
      );
      noStack(stderr);
    }
    const both = await run(['check', '--admin', '127.0.0.1:0', '--no-admin']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /"--admin" and "--no-admin" contradict each other/);

    const moved = await run(['check', '--json', '--admin', '[::1]:9191']);
    assert.equal(moved.code, 0, moved.stderr);
    const admin = (JSON.parse(moved.stdout) as { admin: { enabled: boolean; host: string; port: number } })
      .admin;
    assert.deepEqual([admin.enabled, admin.host, admin.port], [true, '::1', 9191]);
    // Over a config file that enables it, with a token kept from the file.
    fs.writeFileSync(
      path.join(dir, 'admin-on.toml'),
      '[admin]\nport = 9999\ntoken = "0123456789abcdef0123"\n',
    );
    const off = await run(['check', '--json', '--config', 'admin-on.toml', '--no-admin'], dir);
    assert.equal((JSON.parse(off.stdout) as { admin: { enabled: boolean } }).admin.enabled, false);

    // serve: the admin on the address given (port 0: a free one), or no admin line at all.
    for (const flags of [['--admin', '127.0.0.1:0'], ['--no-admin']]) {
      const child = start(['serve', 'www', '--port', '0', '--workers', '1', ...flags], dir);
      let stderr = '';
      child.stderr.setEncoding('utf8');
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      try {
        await new Promise<void>((resolve, reject) => {
          child.stderr.on('data', (chunk: string) => {
            stderr += chunk;
            if (
              /serving [\s\S]*\n/.test(stderr) &&
              (flags[0] === '--no-admin' || /admin token .*\n/.test(stderr))
            )
              resolve();
          });
          void exited.then(() => reject(new Error(`exited: ${stderr}`)));
        });
        const url = / at (http:\/\/127\.0\.0\.1:\d+) /.exec(stderr)?.[1];
        assert.equal((await fetch(url + '/hello.txt')).status, 200);
        if (flags[0] === '--no-admin') {
          assert.doesNotMatch(stderr, /admin/);
        } else {
          const admin = /\nadmin: (http:\/\/127\.0\.0\.1:(\d+)\/) \(dashboard\)\n/.exec(stderr);
          assert.ok(admin, stderr);
          assert.notEqual(admin[2], '9090');
          assert.equal((await fetch(admin[1] + 'api/session')).status, 200);
        }
        child.kill('SIGTERM');
        assert.equal(await exited, 0, `${flags.join(' ')}: ${stderr}`);
      } finally {
        clearTimeout(timer);
        child.kill('SIGKILL');
      }
    }
  });
});

/**
 * `npm pack` gives an installable package: the compiled `tamarin` binary runs from node_modules (where Node
 * does not strip types), finds its bundled site, and serves with worker threads from dist/. A plugin
 * written in the installing project, as examples/README.md tells, imports the package by its name and
 * loads in `check` and `serve`: the shipped example copied out of node_modules, and one written from
 * scratch, type-checked against the package's declarations.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { supportsReusePort } from '../src/server/start.ts';

const exec = promisify(execFile);
const VERSION = (JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string }).version;
// The pinned Node first, so npm scripts (prepack → tsc) and the installed binary's shebang use it.
const env = {
  ...process.env,
  PATH: [path.dirname(process.execPath), path.resolve('node_modules/.bin'), process.env.PATH].join(
    path.delimiter,
  ),
};

/** Start `tamarin serve` with `args` in `cwd`; resolves with the main URL once the banner is printed. */
async function serveUntilBanner(
  bin: string,
  args: string[],
  cwd: string,
): Promise<{ url: string; child: ReturnType<typeof spawn>; stderr: () => string }> {
  const child = spawn(bin, args, { env, cwd });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (chunk: string) => {
      stderr += chunk;
      const match = / at (http:\/\/127\.0\.0\.1:\d+) \(/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.once('exit', () => reject(new Error(`exited: ${stderr}`)));
  });
  return { url, child, stderr: () => stderr };
}

/** A plugin written from scratch in the installing project, against the package's public API. */
const HELLO_PLUGIN = `import { definePlugin, type Plugin, type Request, z } from 'tamarin-server';

const options = z.strictObject({ greeting: z.string().default('hi') });

export default definePlugin({
  name: 'hello',
  options,
  create(config): Plugin {
    const body = Buffer.from(config.greeting + '\\n');
    const wanted = (req: Request): boolean => req.path === '/hello';
    return {
      name: 'hello',
      handle(req, res) {
        if (!wanted(req)) return false;
        res.setHeader('content-type', 'text/plain');
        res.end(body);
        return true;
      },
    };
  },
});
`;

// Packing compiles the whole project (prepack → tsc): about 30 s on an idle 2-core box, over 70 s on a
// loaded one. The bounds leave room for that; a hang still ends.
describe('npm pack', { timeout: 300_000 }, () => {
  let dir = '';
  let bin = '';
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-pack-'));
    const { stdout } = await exec('npm', ['pack', '--json', '--pack-destination', dir], {
      env,
      timeout: 180_000,
    });
    const [{ filename }] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string }];
    const app = path.join(dir, 'app');
    fs.mkdirSync(app);
    // As examples/README.md tells plugin authors: an ES module project.
    fs.writeFileSync(
      path.join(app, 'package.json'),
      '{ "name": "app", "private": true, "type": "module" }\n',
    );
    // Dependencies come from the npm cache that `npm ci` filled; no registry round trip when it has them.
    await exec(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev', path.join(dir, filename)],
      { cwd: app, env, timeout: 90_000 },
    );
    bin = path.join(app, 'node_modules/.bin/tamarin');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the installed binary prints its version', async () => {
    const { stdout } = await exec(bin, ['--version'], { env });
    assert.equal(stdout, `tamarin ${VERSION}\n`);
  });

  it('exports the plugin API to third-party code', async () => {
    const script =
      "const m = await import('tamarin-server'); console.log([typeof m.definePlugin, typeof m.startServer, typeof m.z.strictObject].join())";
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], {
      env,
      cwd: path.join(dir, 'app'),
    });
    assert.equal(stdout, 'function,function,function\n');
  });

  it('tamarin check runs every built-in plugin from dist/ and finds the bundled site', async () => {
    const { stdout } = await exec(bin, ['check', '--json'], { env, cwd: dir });
    const config = JSON.parse(stdout) as { plugins: string[]; static: { root: string } };
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
    assert.equal(config.static.root, path.join(dir, 'app/node_modules/tamarin-server/site'));
    assert.ok(fs.existsSync(path.join(config.static.root, 'index.html')));
  });

  it('tamarin serve starts worker threads from dist/ and serves the bundled site', async () => {
    // The admin on port 0: the default 9090 would be shared with tests running beside this one.
    fs.writeFileSync(path.join(dir, 'admin0.toml'), '[admin]\nport = 0\n');
    const args = ['serve', '--config', 'admin0.toml', '--port', '0', '--workers', '2'];
    const child = spawn(bin, args, { env, cwd: dir });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      let stderr = '';
      child.stderr.setEncoding('utf8');
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (chunk: string) => {
          stderr += chunk;
          const match = / at (http:\/\/127\.0\.0\.1:\d+) \(2 workers/.exec(stderr);
          if (match) resolve(match[1]!);
        });
        child.once('exit', () => reject(new Error(`exited: ${stderr}`)));
      });
      const res = await fetch(url + '/');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
  });

  it('on a Node.js without reusePort: several workers are refused naming the version, one serves', async (t) => {
    // An older system Node (Debian's), when the machine has one: the package's floor is checked for real.
    const old = '/usr/bin/node';
    const version = fs.existsSync(old) ? (await exec(old, ['--version'])).stdout.trim().slice(1) : '';
    if (version === '' || supportsReusePort(version)) {
      t.skip(`no Node.js older than 22.12 at ${old}`);
      return;
    }
    fs.writeFileSync(path.join(dir, 'old-node.toml'), '[admin]\nenabled = false\n[server]\nport = 0\n');
    const refused = await exec(old, [bin, 'serve', '--config', 'old-node.toml', '--workers', '2'], {
      cwd: dir,
    }).then(
      () => assert.fail('serve started'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      `tamarin: 2 workers need Node.js 22.12 or newer to share the port (listen option reusePort); this is ` +
        `Node.js ${version}: upgrade Node.js, or set server.workers = 1 (--workers 1)\n`,
    );
    const child = spawn(old, [bin, 'serve', '--config', 'old-node.toml', '--workers', '1'], { cwd: dir });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      let stderr = '';
      child.stderr.setEncoding('utf8');
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (chunk: string) => {
          stderr += chunk;
          const match = / at (http:\/\/127\.0\.0\.1:\d+) \(1 worker/.exec(stderr);
          if (match) resolve(match[1]!);
        });
        child.once('exit', () => reject(new Error(`exited: ${stderr}`)));
      });
      assert.equal((await fetch(url + '/')).status, 200);
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
  });

  describe('a plugin in the installing project', () => {
    let app = '';
    before(() => {
      app = path.join(dir, 'app');
      // The shipped example, copied out of node_modules as examples/README.md suggests, and a new one.
      fs.copyFileSync(
        path.join(app, 'node_modules/tamarin-server/examples/basic-auth/plugin.ts'),
        path.join(app, 'basic-auth.ts'),
      );
      fs.writeFileSync(path.join(app, 'hello.ts'), HELLO_PLUGIN);
      fs.mkdirSync(path.join(app, 'public/private'), { recursive: true });
      fs.writeFileSync(path.join(app, 'public/private/secret.txt'), 'the secret\n');
      fs.writeFileSync(
        path.join(app, 'tamarin.toml'),
        [
          'plugins = ["./basic-auth.ts", "./hello.ts", "static"]',
          '[static]',
          'root = "public"',
          '[hello]',
          'greeting = "hello from outside"',
          '[basic_auth]',
          'paths = ["/private"]',
          '[basic_auth.users]',
          // printf %s wonderland | sha256sum
          'alice = "sha256:a71a7c7011f53a1bab3642ec2ce12593f05230ace8de1e3e7645f69efac1443d"',
          '[admin]',
          'enabled = false',
          '',
        ].join('\n'),
      );
    });

    it("type-checks against the package's declarations", async () => {
      fs.writeFileSync(
        path.join(app, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            module: 'nodenext',
            target: 'es2023',
            strict: true,
            noEmit: true,
            allowImportingTsExtensions: true,
            // The app installed without dev dependencies: Node's types come from this repository.
            typeRoots: [path.resolve('node_modules/@types')],
            types: ['node'],
          },
          include: ['*.ts'],
        }),
      );
      await exec(process.execPath, [path.resolve('node_modules/typescript/bin/tsc'), '-p', app], {
        env,
        cwd: app,
        timeout: 120_000,
      });
    });

    it('tamarin check loads both plugins and validates their tables', async () => {
      const { stdout } = await exec(bin, ['check', '--config', 'tamarin.toml', '--json'], { env, cwd: app });
      const config = JSON.parse(stdout) as { plugins: string[]; hello: { greeting: string } };
      assert.deepEqual(config.plugins, ['./basic-auth.ts', './hello.ts', 'static']);
      assert.equal(config.hello.greeting, 'hello from outside');
      fs.writeFileSync(path.join(app, 'typo.toml'), 'plugins = ["./hello.ts"]\n[hello]\ngreting = "x"\n');
      const failed = await exec(bin, ['check', '--config', 'typo.toml'], { env, cwd: app }).then(
        () => assert.fail("a typo in the plugin's table passed"),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(failed.code, 2);
      assert.match(failed.stderr, /config error: hello\.greting: unknown key/);
    });

    it('tamarin serve runs them in worker threads', async () => {
      const args = ['serve', '--config', 'tamarin.toml', '--port', '0', '--workers', '2'];
      const { url, child, stderr } = await serveUntilBanner(bin, args, app);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      try {
        assert.match(stderr(), /plugins: basic_auth, hello, static/);
        const hello = await fetch(url + '/hello');
        assert.equal(await hello.text(), 'hello from outside\n');
        assert.equal((await fetch(url + '/private/secret.txt')).status, 401);
        const login = { authorization: 'Basic ' + Buffer.from('alice:wonderland').toString('base64') };
        const secret = await fetch(url + '/private/secret.txt', { headers: login });
        assert.equal(await secret.text(), 'the secret\n');
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        assert.equal(await exited, 0);
      } finally {
        clearTimeout(timer);
        child.kill('SIGKILL');
      }
    });
  });
});

/**
 * `npm pack` gives an installable package: the compiled `tamarin` binary runs from node_modules (where Node
 * does not strip types), finds its bundled site, and serves with worker threads from dist/.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const VERSION = (JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string }).version;
// The pinned Node first, so npm scripts (prepack → tsc) and the installed binary's shebang use it.
const env = {
  ...process.env,
  PATH: [path.dirname(process.execPath), path.resolve('node_modules/.bin'), process.env.PATH].join(
    path.delimiter,
  ),
};

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
    fs.writeFileSync(path.join(app, 'package.json'), '{ "name": "app", "private": true }\n');
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
      "const m = await import('tamarin'); console.log([typeof m.definePlugin, typeof m.startServer, typeof m.z.strictObject].join())";
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
      'cache',
      'proxy',
      'static',
    ]);
    assert.equal(config.static.root, path.join(dir, 'app/node_modules/tamarin/site'));
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
});

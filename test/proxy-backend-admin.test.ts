/**
 * Backends taken out of rotation at run time through the admin API, on a real 2-worker server: drain (no
 * new request reaches the backend, the one in flight finishes, the listing says draining then drained),
 * the decision kept across a reload, enable, disable, and the API's refusals (token, unknown backend,
 * missing URL, wrong method).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { call } from './admin-client.ts';

const TOKEN = 'test-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };

interface Named {
  server: http.Server;
  url: string;
  /** Requests held until `release()` (paths under /slow/). */
  held: http.ServerResponse[];
  release(): void;
}

async function named(name: string): Promise<Named> {
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/slow/')) {
      held.push(res);
      return;
    }
    res.end(`${name}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    server,
    url,
    held,
    release() {
      for (const res of held.splice(0)) res.end(`${name} slow\n`);
    },
  };
}

/** GET on a fresh connection: status and body. */
function get(port: number, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: target, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${target}: no answer in 10 s`)));
    req.on('error', reject);
  });
}

async function until(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`${what}: not within ${ms} ms`);
}

describe('backends at run time (admin API)', () => {
  let dir: string;
  let a: Named;
  let b: Named;
  let server: RunningServer;
  let admin: string;
  const file = () => path.join(dir, 'tamarin.toml');
  const config = (extra = '') =>
    'plugins = ["proxy"]\n[server]\nport = 0\nworkers = 2\n' +
    `[admin]\nport = 0\ntoken = "${TOKEN}"\n` +
    `[[proxy.routes]]\nmatch = "^/slow/"\nbackends = ["${a.url}"]\n` +
    `[[proxy.routes]]\nmatch = "^/x"\nbackends = ["${a.url}", "${b.url}"]\nbalancer = "round-robin"\n` +
    extra;

  /** The summary row of `url` in route `route` of the listing. */
  async function row(route: number, url: string) {
    const { json } = await call(admin, 'GET', '/api/proxy/backends', auth);
    // biome-ignore lint/suspicious/noExplicitAny: the listing is checked field by field
    return json.routes[route].backends.find((x: any) => x.url === url);
  }

  /** Bodies of `n` requests to route 1 on fresh connections. */
  async function bodies(n: number): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const { status, body } = await get(server.port, `/x${i}`);
      assert.equal(status, 200);
      seen.add(body);
    }
    return seen;
  }

  before(async () => {
    setLogSink(() => {});
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-backend-admin-'));
    [a, b] = await Promise.all([named('A'), named('B')]);
    fs.writeFileSync(file(), config());
    server = await startServer({ configPath: file() });
    admin = server.admin!.url;
  });
  after(async () => {
    a?.release();
    b?.release();
    await server?.close();
    a?.server.close();
    b?.server.close();
    setLogSink(null);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('drain: the request in flight finishes, no new request reaches the backend, listed draining then drained', {
    timeout: 30_000,
  }, async () => {
    assert.deepEqual(await bodies(8), new Set(['A\n', 'B\n']), 'both backends serve before the drain');
    const slow = get(server.port, '/slow/1');
    await until('the slow request reached A', async () => a.held.length === 1);

    const drained = await call(admin, 'POST', `/api/proxy/backends/drain?url=${a.url}`, auth);
    assert.equal(drained.status, 200);
    assert.equal(drained.json.action, 'drain');
    assert.deepEqual(
      drained.json.backends.map((x: { route: number; to: string }) => [x.route, x.to]),
      [
        [0, 'draining'],
        [1, 'draining'],
      ],
    );
    assert.equal(drained.json.inFlight, 1, 'the held request is counted');
    const draining = await row(0, a.url);
    assert.equal(draining.state, 'draining');
    assert.equal(draining.admin, 'draining');
    assert.equal(draining.health, 'up');

    assert.deepEqual(await bodies(8), new Set(['B\n']), 'no new request goes to A');
    assert.equal((await get(server.port, '/slow/2')).status, 502, 'a route with only A has no backend left');

    a.release();
    assert.deepEqual(await slow, { status: 200, body: 'A slow\n' }, 'the request in flight finished');
    await until('A listed drained', async () => (await row(0, a.url)).state === 'drained');
    assert.equal((await row(1, a.url)).state, 'drained');
    assert.equal((await row(1, b.url)).state, 'up');
  });

  it('the decision survives a reload', { timeout: 30_000 }, async () => {
    fs.writeFileSync(file(), config(`[[proxy.routes]]\nmatch = "^/new/"\nbackends = ["${b.url}"]\n`));
    await server.reload();
    assert.equal((await get(server.port, '/new/x')).body, 'B\n', 'the reload took effect');
    assert.equal((await row(1, a.url)).state, 'drained');
    assert.deepEqual(await bodies(8), new Set(['B\n']));
  });

  it('enable puts it back; disable takes one out at once, idle connections closed', {
    timeout: 30_000,
  }, async () => {
    const enabled = await call(admin, 'POST', `/api/proxy/backends/enable?url=${a.url}`, auth);
    assert.equal(enabled.status, 200);
    assert.equal((await row(1, a.url)).state, 'up');
    assert.deepEqual(await bodies(8), new Set(['A\n', 'B\n']));

    // Route 1 only: B stays in the /new/ route.
    const disabled = await call(admin, 'POST', `/api/proxy/backends/disable?url=${b.url}&route=1`, auth);
    assert.equal(disabled.status, 200);
    assert.deepEqual(
      disabled.json.backends.map((x: { route: number; to: string }) => [x.route, x.to]),
      [[1, 'disabled']],
    );
    const listed = await row(1, b.url);
    assert.equal(listed.state, 'disabled');
    assert.equal(listed.idleConnections, 0, 'its pooled connections were closed');
    assert.deepEqual(await bodies(8), new Set(['A\n']));
    assert.equal((await get(server.port, '/new/y')).body, 'B\n', 'other routes keep it');
    assert.equal((await row(2, b.url)).state, 'up');
  });

  it('refuses without the token, an unknown backend, a missing URL and a GET', async () => {
    const anonymous = await call(admin, 'POST', `/api/proxy/backends/drain?url=${a.url}`);
    assert.equal(anonymous.status, 401);
    const unknown = await call(admin, 'POST', '/api/proxy/backends/drain?url=http://127.0.0.1:1', auth);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error, 'no_such_backend');
    assert.ok(unknown.json.message.includes(a.url) && unknown.json.message.includes(b.url), 'names them');
    const missing = await call(admin, 'POST', '/api/proxy/backends/disable', auth);
    assert.equal(missing.status, 400);
    assert.match(missing.json.message, /url is required/);
    const badRoute = await call(admin, 'POST', `/api/proxy/backends/disable?url=${a.url}&route=x`, auth);
    assert.equal(badRoute.status, 400);
    const wrongMethod = await call(admin, 'GET', '/api/proxy/backends/enable', auth);
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.allow, 'POST');
    assert.equal((await row(1, a.url)).state, 'up', 'nothing changed');
  });
});

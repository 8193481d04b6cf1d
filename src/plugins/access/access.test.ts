/**
 * The `access` plugin over real sockets: allow / deny networks (with the client address `real_ip` found),
 * basic auth with scrypt hashes, token-bucket rate limits by address or header with 429 + Retry-After,
 * and one budget for a server of two workers.
 */
import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../../main/compose.ts';
import { ConfigError, resolveConfig } from '../../server/config.ts';
import { setLogSink } from '../../server/logger.ts';

function hashOf(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 });
  return `scrypt$1024$8$1$${salt.toString('base64')}$${hash.toString('base64')}`;
}
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** One request on its own connection (so that two workers share them out). */
async function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { headers: { connection: 'close', ...headers } });
}

describe('access plugin', () => {
  let root: string;
  let server: RunningServer;
  before(async () => {
    setLogSink(() => {});
    root = mkdtempSync(join(tmpdir(), 'tamarin-access-'));
    writeFileSync(join(root, 'index.html'), 'home\n');
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['real_ip', 'access', 'cache', 'static'],
        server: { host: '127.0.0.1', port: 0 },
        static: { root, fallthrough: false },
        real_ip: { trusted: ['127.0.0.1'] },
        access: {
          rules: [
            { match: '^/blocked', deny: ['127.0.0.0/8', '203.0.113.0/24'] },
            { match: '^/office', allow: ['10.0.0.0/8', 'fd00::/8'] },
            { match: '^/admin', basic_auth: { realm: 'Admin', users: { alice: hashOf('wonderland') } } },
            { match: '^/limited', rate_limit: { rate: '1/m', burst: 2 } },
            { match: '^/api', rate_limit: { rate: '1/m', burst: 1, key: 'header:X-Api-Key' } },
          ],
        },
      },
    });
  });
  after(async () => {
    await server?.close();
    setLogSink(null);
    rmSync(root, { recursive: true, force: true });
  });

  it('denies listed networks and allows only listed ones, by the client real_ip found', async () => {
    assert.equal((await get(`${server.url}/blocked`)).status, 403);
    assert.equal((await get(`${server.url}/office`)).status, 403);
    const inside = await get(`${server.url}/office`, { 'x-forwarded-for': '10.1.2.3' });
    assert.equal(inside.status, 404, 'allowed through to the static plugin');
    const v6 = await get(`${server.url}/office`, { 'x-forwarded-for': 'fd00::7' });
    assert.equal(v6.status, 404);
    const listed = await get(`${server.url}/blocked`, { 'x-forwarded-for': '203.0.113.9' });
    assert.equal(listed.status, 403);
    assert.equal((await get(`${server.url}/`)).status, 200, 'other paths are untouched');
  });

  it('asks for a login, refuses a wrong one, lets the right one through (and again)', async () => {
    const none = await get(`${server.url}/admin/`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Basic realm="Admin", charset="UTF-8"');
    assert.equal((await get(`${server.url}/admin/`, { authorization: basic('alice', 'nope') })).status, 401);
    assert.equal(
      (await get(`${server.url}/admin/`, { authorization: basic('bob', 'wonderland') })).status,
      401,
    );
    for (let i = 0; i < 2; i++) {
      const ok = await get(`${server.url}/admin/`, { authorization: basic('alice', 'wonderland') });
      assert.equal(ok.status, 404, 'through to the content handler');
    }
  });

  it('rate limits with a token bucket: burst, then 429 with Retry-After', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 4; i++) {
      const res = await get(`${server.url}/limited`);
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    assert.deepEqual(statuses, [404, 404, 429, 429]);
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`);
  });

  it('keys a limit by header: each API key has its own budget', async () => {
    assert.equal((await get(`${server.url}/api`, { 'x-api-key': 'a' })).status, 404);
    assert.equal((await get(`${server.url}/api`, { 'x-api-key': 'a' })).status, 429);
    assert.equal((await get(`${server.url}/api`, { 'x-api-key': 'b' })).status, 404);
  });

  it('rejects bad hashes and rates, naming the key', async () => {
    const bad = async (access: unknown) => {
      try {
        await resolveConfig({ plugins: ['access'], access });
        assert.fail('accepted');
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.message;
      }
    };
    assert.match(
      await bad({ rules: [{ basic_auth: { users: { alice: 'plain' } } }] }),
      /access\.rules\[0\]\.basic_auth\.users\.alice: expected "scrypt\$N\$r\$p\$salt\$hash"/,
    );
    assert.match(
      await bad({ rules: [{ rate_limit: { rate: 'fast' } }] }),
      /access\.rules\[0\]\.rate_limit\.rate: expected requests per second/,
    );
    assert.match(await bad({ rules: [{ deny: ['300.1.1.1'] }] }), /access\.rules\[0\]\.deny\[0\]/);
  });
});

describe('access plugin: one rate budget for all workers', () => {
  it('two workers share one bucket', async () => {
    setLogSink(() => {});
    const root = mkdtempSync(join(tmpdir(), 'tamarin-access-workers-'));
    const server = await startServer({
      config: {
        plugins: ['access', 'static'],
        server: { host: '127.0.0.1', port: 0, workers: 2 },
        admin: { enabled: false },
        static: { root },
        access: { rules: [{ rate_limit: { rate: '1/h', burst: 3 } }] },
      },
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) statuses.push((await get(`${server.url}/x`)).status);
      assert.equal(statuses.filter((s) => s !== 429).length, 3, `statuses ${statuses.join(',')}`);
    } finally {
      await server.close();
      setLogSink(null);
      rmSync(root, { recursive: true, force: true });
    }
  });
});

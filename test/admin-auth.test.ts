/**
 * Who may use the admin: token (401), Host header against DNS rebinding (403), same-origin for mutating
 * calls (403), the token made mandatory for reads off loopback or when configured, and the switches
 * that start or skip the listener.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { ListenError } from '../src/server/runtime.ts';
import { call } from './admin-client.ts';

const FIXTURES = 'test/fixtures/static';
const logged: string[] = [];

function start(admin: Record<string, unknown> | undefined, extra: { admin?: boolean } = {}) {
  return startServer({
    config: {
      plugins: ['cache', 'static'],
      server: { port: 0 },
      static: { root: FIXTURES },
      ...(admin === undefined ? {} : { admin }),
    },
    inProcess: true,
    ...extra,
  });
}

before(() => setLogSink((_level, line) => logged.push(line)));
after(() => setLogSink(null));

describe('loopback admin without a configured token', () => {
  let server: RunningServer;
  let base: string;
  let origin: string;
  before(async () => {
    logged.length = 0;
    server = await start({ port: 0, allowed_hosts: ['admin.example', '*.ops.example'] });
    base = server.admin!.url;
    origin = new URL(base).origin;
  });
  after(() => server?.close());

  it('generates a token at start-up and hands it to the caller, never to the log', () => {
    // The CLI prints it once in its start-up block (test/cli.test.ts); a log file must not keep it.
    assert.equal(server.admin!.tokenGenerated, true);
    assert.match(server.admin!.token, /^[\x21-\x7e]{32}$/);
    assert.deepEqual(
      logged.filter((line) => line.includes(server.admin!.token)),
      [],
    );
  });

  it('reads need no token; the session call hands the page its token', async () => {
    assert.equal((await call(base, 'GET', '/api/stats')).status, 200);
    const session = await call(base, 'GET', '/api/session');
    assert.deepEqual(session.json, {
      tokenRequired: false,
      token: server.admin!.token,
      workers: 1,
      cache: server.config.plugins.includes('cache'),
      proxy: false,
      tls: false,
    });
    // Only to this origin: another site's page gets no answer to read.
    const foreign = await call(base, 'GET', '/api/session', { 'sec-fetch-site': 'cross-site' });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.json.token, undefined);
  });

  it('a purge without the token is 401 with WWW-Authenticate; a wrong token is 401 too', async () => {
    const none = await call(base, 'DELETE', '/api/cache');
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="tamarin-admin"');
    assert.deepEqual(none.json, {
      error: 'unauthorized',
      message: 'this call needs the admin token: Authorization: Bearer <token>',
    });
    const wrong = await call(base, 'DELETE', '/api/cache', { authorization: 'Bearer not-the-token' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.message, 'wrong admin token');
  });

  it('a purge from another origin is 403 even with the token; same origin and curl pass', async () => {
    const authorization = `Bearer ${server.admin!.token}`;
    const evil = await call(base, 'DELETE', '/api/cache', { authorization, origin: 'http://evil.example' });
    assert.equal(evil.status, 403);
    assert.equal(evil.json.error, 'cross_origin');
    const site = await call(base, 'DELETE', '/api/cache', { authorization, 'sec-fetch-site': 'cross-site' });
    assert.equal(site.status, 403);
    const nullOrigin = await call(base, 'DELETE', '/api/cache', { authorization, origin: 'null' });
    assert.equal(nullOrigin.status, 403);
    assert.equal((await call(base, 'DELETE', '/api/cache', { authorization, origin })).status, 200);
    assert.equal((await call(base, 'DELETE', '/api/cache', { authorization })).status, 200, 'curl');
  });

  it('refuses Host names it does not know (DNS rebinding), even for the page', async () => {
    for (const host of ['evil.example', 'evil.example:9090', 'admin.example.evil.com']) {
      for (const path of ['/', '/api/stats']) {
        const res = await call(base, 'GET', path, { host });
        assert.equal(res.status, 403, `${host} ${path}`);
        assert.equal(res.json.error, 'forbidden_host');
      }
    }
    for (const host of ['127.0.0.1', 'localhost:9090', '[::1]:9090', 'admin.example', 'a.ops.example:80']) {
      assert.equal((await call(base, 'GET', '/api/stats', { host })).status, 200, host);
    }
  });
});

describe('configured token', () => {
  let server: RunningServer;
  let base: string;
  before(async () => {
    logged.length = 0;
    server = await start({ port: 0, token: 'a-configured-token-0123' });
    base = server.admin!.url;
  });
  after(() => server?.close());

  it('every API call needs it; the page itself does not, and the token is never revealed', async () => {
    for (const path of ['/api/stats', '/api/config', '/api/cache/entries', '/metrics', '/api/events']) {
      assert.equal((await call(base, 'GET', path)).status, 401, path);
    }
    const ok = await call(base, 'GET', '/api/stats', { authorization: 'Bearer a-configured-token-0123' });
    assert.equal(ok.status, 200);
    assert.equal((await call(base, 'GET', '/')).status, 200);
    const session = await call(base, 'GET', '/api/session');
    assert.deepEqual(session.json, {
      tokenRequired: true,
      token: null,
      workers: 1,
      cache: true,
      proxy: false,
      tls: false,
    });
    assert.ok(!logged.some((line) => line.includes('a-configured-token-0123')), 'not printed');
  });
});

describe('bound beyond loopback', () => {
  it('requires the (generated) token for reads', async () => {
    const server = await start({ host: '0.0.0.0', port: 0 });
    try {
      const base = server.admin!.url;
      assert.equal(server.admin!.tokenRequired, true);
      assert.equal((await call(base, 'GET', '/api/stats')).status, 401);
      assert.equal((await call(base, 'GET', '/api/session')).json.token, null);
      const authorization = `Bearer ${server.admin!.token}`;
      assert.equal((await call(base, 'GET', '/api/stats', { authorization })).status, 200);
    } finally {
      await server.close();
    }
  });
});

describe('starting and not starting', () => {
  it('enabled = false runs no admin listener', async () => {
    const server = await start({ enabled: false, port: 0 });
    assert.equal(server.admin, null);
    await server.close();
  });

  it('an in-process server without an [admin] table runs none unless asked', async () => {
    const quiet = await start(undefined);
    assert.equal(quiet.admin, null);
    await quiet.close();
  });

  it('a configured admin port that is taken fails the start with a clear error', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await assert.rejects(start({ port }), (error: unknown) => {
        assert.ok(error instanceof ListenError);
        assert.equal(
          error.message,
          `admin cannot listen on 127.0.0.1:${port}: the port is already in use ` +
            '(choose another [admin] port, or set [admin] enabled = false)',
        );
        return true;
      });
    } finally {
      blocker.close();
    }
  });

  it('the default address taken costs a warning, not the server', async (t) => {
    // Hold 9090 ourselves; when something else holds it already, the outcome is the same warning, but
    // it could let go of it mid-test, so the check is skipped rather than left to chance.
    const blocker = net.createServer();
    const held = await new Promise<boolean>((resolve) => {
      blocker.once('error', () => resolve(false));
      blocker.listen(9090, '127.0.0.1', () => resolve(true));
    });
    if (!held) {
      t.skip('port 9090 is in use by another program');
      return;
    }
    try {
      logged.length = 0;
      const server = await start(undefined, { admin: true });
      try {
        assert.equal(server.admin, null);
        assert.equal((await fetch(`${server.url}/hello.txt`)).status, 200, 'the server serves');
        assert.ok(
          logged.includes(
            'tamarin admin: warning: admin cannot listen on 127.0.0.1:9090: the port is already in use; ' +
              'admin API and dashboard not started',
          ),
          logged.join('\n'),
        );
      } finally {
        await server.close();
      }
    } finally {
      blocker.close();
    }
  });

  it('config errors name the admin key', async () => {
    await assert.rejects(start({ port: 0, token: 'short' }), /admin\.token: expected at least 16 characters/);
    await assert.rejects(start({ port: 'x' }), /admin\.port: expected an integer from 0 to 65535/);
  });
});

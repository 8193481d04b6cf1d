/**
 * One authority and one path per request, over real sockets: the route match, both cache keys, the Host
 * and target sent upstream and the static file lookup must read the same normalised values, or an
 * attacker makes one part see one thing and another part another. Each case here was an attack that
 * worked: cache poisoning through an absolute-form target or a Host variant, a `..` escaping a route's
 * prefix, a route bypassed to static files, a header with `_` posing as one the proxy sets.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseResponses, type RawResponse, rawRequest } from '../src/http/test-client.ts';
import type { RunningServer } from '../src/server/start.ts';
import { startServer } from '../src/server/start.ts';
import { type FakeBackend, startFakeBackend } from './helpers/fake-backend.ts';

/** An origin that answers with what it saw (host, target), cacheable for a minute. */
async function echoOrigin(name: string): Promise<FakeBackend> {
  return startFakeBackend({
    name,
    handler: (req: IncomingMessage, res: ServerResponse, backend: FakeBackend) => {
      void backend.record(req).then(() => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'max-age=60' });
        res.end(`${name} host=${req.headers.host} xfh=${req.headers['x-forwarded-host']} url=${req.url}`);
      });
      return true;
    },
  });
}

/** Send one raw request (the exact bytes of the request line and fields) and parse the answer. */
async function send(port: number, target: string, fields: string[]): Promise<RawResponse> {
  const head = `GET ${target} HTTP/1.1\r\n${fields.map((f) => `${f}\r\n`).join('')}Connection: close\r\n\r\n`;
  const [response] = parseResponses(await rawRequest(port, Buffer.from(head, 'latin1')));
  assert.ok(response, `no response for ${target}`);
  return response;
}

describe('one authority: route, cache key and upstream Host agree', () => {
  let origin: FakeBackend;
  let restricted: FakeBackend;
  let server: RunningServer;

  before(async () => {
    origin = await echoOrigin('origin');
    restricted = await echoOrigin('restricted');
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['cache', 'proxy'],
        server: { host: '127.0.0.1', port: 0 },
        proxy: {
          routes: [
            { match: '^/', host: 'api.test', backends: [restricted.url] },
            { match: '^/c/', backends: [origin.url], cache: true },
          ],
        },
      },
    });
  });

  after(async () => {
    await server?.close();
    await origin?.stop();
    await restricted?.stop();
  });

  test('an absolute-form target with another Host cannot poison the target host (RFC 9112 §3.2.2)', async () => {
    const attack = await send(server.port, 'http://victim.test/c/abs', ['Host: evil.test']);
    assert.equal(attack.status, 200);
    // The backend built its answer for the host it was keyed under.
    assert.match(attack.body.toString(), /host=victim\.test xfh=victim\.test url=\/c\/abs$/);
    const victim = await send(server.port, '/c/abs', ['Host: victim.test']);
    assert.equal(victim.status, 200);
    assert.match(victim.body.toString(), /host=victim\.test /);
    assert.doesNotMatch(victim.body.toString(), /evil/);
    for (const seen of origin.seen) assert.doesNotMatch(JSON.stringify(seen.headers), /evil/);
  });

  test('Host variants (port, upper case, trailing dot) cannot poison the plain host', async () => {
    const variants = ['victim.test:1337', 'VICTIM.TEST', 'victim.test.', 'Victim.Test.:8080'];
    for (const [i, variant] of variants.entries()) {
      const path = `/c/variant-${i}`;
      const attack = await send(server.port, path, [`Host: ${variant}`]);
      assert.equal(attack.status, 200, variant);
      const victim = await send(server.port, path, ['Host: victim.test']);
      // Whatever the backend saw of the host is exactly what the entry was keyed by.
      assert.equal(
        victim.body.toString(),
        `origin host=victim.test xfh=victim.test url=${path}`,
        `after an attack with Host: ${variant}`,
      );
    }
    for (const seen of origin.seen) {
      assert.doesNotMatch(seen.headers.host ?? '', /[A-Z:]|\.$/);
      assert.doesNotMatch(seen.headers['x-forwarded-host'] ?? '', /[A-Z:]|\.$/);
    }
  });

  test('a host-restricted route sees only its host, whatever the Host field says', async () => {
    const before = restricted.hits;
    const viaTarget = await send(server.port, 'http://api.test/x', ['Host: evil.test']);
    assert.equal(viaTarget.status, 200);
    assert.equal(viaTarget.body.toString(), 'restricted host=api.test xfh=api.test url=/x');
    // The other way round: the target names another host, so the restricted route is not taken.
    const other = await send(server.port, 'http://evil.test/x', ['Host: api.test']);
    assert.equal(other.status, 404);
    assert.equal(restricted.hits, before + 1);
  });

  test('spellings of one path share one cache entry (the key is the normal form)', async () => {
    const first = await send(server.port, '/c/same', ['Host: victim.test']);
    assert.equal(first.status, 200);
    const hits = origin.hits;
    for (const spelling of ['/c/%73ame', '/c/./same', '//c//same', '/c/x/../same', '/%63/same']) {
      const again = await send(server.port, spelling, ['Host: victim.test']);
      assert.equal(again.status, 200, spelling);
      assert.equal(again.body.toString(), first.body.toString(), spelling);
    }
    assert.equal(origin.hits, hits, 'every spelling was answered from the one stored entry');
  });
});

describe('one path: route match, upstream target and static lookup agree', () => {
  let backend: FakeBackend;
  let rawBackend: FakeBackend;
  let server: RunningServer;
  let base: string;

  before(async () => {
    backend = await echoOrigin('api');
    rawBackend = await echoOrigin('raw');
    base = mkdtempSync(join(tmpdir(), 'tamarin-authority-'));
    // Static files under the proxied prefix: a request reaching them bypassed the route.
    mkdirSync(join(base, 'api'));
    writeFileSync(join(base, 'api', 'x'), 'STATIC COPY\n');
    mkdirSync(join(base, 'raw'));
    writeFileSync(join(base, 'raw', 'y'), 'STATIC COPY\n');
    writeFileSync(join(base, 'static-only'), 'STATIC ONLY\n');
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['cache', 'proxy', 'static'],
        server: { host: '127.0.0.1', port: 0 },
        static: { root: base },
        proxy: {
          routes: [
            { match: '^/api/', backends: [backend.url] },
            { match: '^/raw/', backends: [rawBackend.url], normalize_path: false, cache: true },
          ],
        },
      },
    });
  });

  after(async () => {
    await server?.close();
    await backend?.stop();
    await rawBackend?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  /** The target the api backend saw for `target`, or the status when it saw nothing. */
  async function forwarded(target: string): Promise<string | number> {
    const count = backend.hits;
    const response = await send(server.port, target, ['Host: site.test']);
    if (backend.hits === count) return response.status;
    assert.equal(response.status, 200, target);
    return backend.seen[backend.seen.length - 1]!.url;
  }

  test('`..` cannot escape the route prefix: resolved first, then matched (nginx answers the same)', async () => {
    for (const target of [
      '/api/../internal/secret',
      '/api/%2e%2e/internal/secret',
      '/api/%2E./internal/secret',
      '/api/x/../../internal/secret',
    ]) {
      // `/internal/secret`: no route, no such file.
      assert.equal(await forwarded(target), 404, target);
    }
  });

  test('a dot-segment behind an encoded slash, a backslash or a `;` is refused, never forwarded', async () => {
    for (const target of [
      '/api/..%2finternal/secret',
      '/api/..%2Finternal',
      '/api/x%5c..%5csecret',
      '/api/..\\x',
      '/api/..;/internal',
    ]) {
      assert.equal(await forwarded(target), 400, target);
    }
  });

  test('`..` above the root is a 400 with its reason', async () => {
    for (const target of ['/..', '/api/../../etc/passwd', '/%2e%2e/api/x']) {
      const response = await send(server.port, target, ['Host: site.test']);
      assert.equal(response.status, 400, target);
      assert.match(response.body.toString(), /above the root/);
    }
    const invalid = await send(server.port, '/api/%zz', ['Host: site.test']);
    assert.equal(invalid.status, 400);
    assert.match(invalid.body.toString(), /percent-encoding/);
  });

  test('`//api/x` and `/%61pi/x` reach the proxy, not the static copy, and go upstream normalised', async () => {
    assert.equal(await forwarded('//api/x'), '/api/x');
    assert.equal(await forwarded('/%61pi/x'), '/api/x');
    assert.equal(await forwarded('/%61%70%69/x'), '/api/x');
    assert.equal(await forwarded('/./api/x'), '/api/x');
    assert.equal(await forwarded('/api/a/./b//c/../d'), '/api/a/b/d');
    assert.equal(await forwarded('/api/%7euser/%41'), '/api/~user/A');
  });

  test('an encoded slash stays encoded (never a separator); the query is left as sent', async () => {
    assert.equal(await forwarded('/api/group%2fproject'), '/api/group%2Fproject');
    assert.equal(await forwarded('/api/%e6%97%a5'), '/api/%E6%97%A5');
    assert.equal(await forwarded('/api/./q?next=/../x&y=%2e%2e'), '/api/q?next=/../x&y=%2e%2e');
  });

  test('normalize_path = false forwards the bytes as sent; the route still matches the normal form', async () => {
    const response = await send(server.port, '/raw/%41//b/./c?q=%2e', ['Host: site.test']);
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), 'raw host=site.test xfh=site.test url=/raw/%41//b/./c?q=%2e');
    const bypass = await send(server.port, '//raw/y', ['Host: site.test']);
    assert.equal(bypass.body.toString(), 'raw host=site.test xfh=site.test url=//raw/y');
    // `/api/x` once normalised: not this route's, whatever the raw bytes start with.
    const other = await send(server.port, '/raw/../api/x', ['Host: site.test']);
    assert.match(other.body.toString(), /^api .*url=\/api\/x$/);
  });

  test('normalize_path = false with cache: raw spellings are never answered from the normal form entry', async () => {
    const stored = await send(server.port, '/raw/k', ['Host: site.test']);
    assert.equal(stored.status, 200);
    const hits = rawBackend.hits;
    assert.equal(
      (await send(server.port, '/raw/k', ['Host: site.test'])).body.toString(),
      stored.body.toString(),
    );
    assert.equal(rawBackend.hits, hits, 'the normal spelling is a hit');
    // The backend may tell `%6b` from `k`: it is asked, and its answer is not stored under `/raw/k`.
    const other = await send(server.port, '/raw/%6b', ['Host: site.test']);
    assert.equal(other.body.toString(), 'raw host=site.test xfh=site.test url=/raw/%6b');
    assert.equal(rawBackend.hits, hits + 1);
    assert.equal(
      (await send(server.port, '/raw/k', ['Host: site.test'])).body.toString(),
      stored.body.toString(),
    );
    assert.equal(rawBackend.hits, hits + 1);
  });

  test('the static lookup reads the same normal form', async () => {
    const routed = await send(server.port, '/raw/../raw/y', ['Host: site.test']);
    // `/raw/y` normalised: the raw route's (forwarded raw), not the static copy.
    assert.match(routed.body.toString(), /^raw /);
    for (const target of [
      '/static-only',
      '/api/../%61pi/../static-only',
      '//%73tatic-only',
      '/./static-only',
    ]) {
      const file = await send(server.port, target, ['Host: site.test']);
      assert.equal(file.status, 200, target);
      assert.equal(file.body.toString(), 'STATIC ONLY\n', target);
    }
  });
});

describe('header names with `_`', () => {
  let backend: FakeBackend;

  before(async () => {
    backend = await startFakeBackend({ name: 'u' });
  });

  after(async () => {
    await backend?.stop();
  });

  async function seenWith(underscores: boolean | undefined): Promise<Record<string, string>> {
    const proxy: Record<string, unknown> = { routes: [{ match: '^/', backends: [backend.url] }] };
    if (underscores !== undefined) proxy.underscores_in_headers = underscores;
    const server = await startServer({
      inProcess: true,
      config: { plugins: ['proxy'], server: { host: '127.0.0.1', port: 0 }, proxy },
    });
    try {
      const response = await send(server.port, '/h', [
        'Host: site.test',
        'X_Forwarded_For: 203.0.113.66',
        'X_Custom: a',
        'X-Custom: b',
      ]);
      assert.equal(response.status, 200);
      return (JSON.parse(response.body.toString()) as { headers: Record<string, string> }).headers;
    } finally {
      await server.close();
    }
  }

  test('are dropped by default (nginx), so they cannot pose as a field the proxy sets', async () => {
    const headers = await seenWith(undefined);
    assert.equal(headers.x_forwarded_for, undefined);
    assert.equal(headers.x_custom, undefined);
    assert.equal(headers['x-custom'], 'b');
    assert.equal(headers['x-forwarded-for'], '127.0.0.1');
  });

  test('are forwarded with [proxy] underscores_in_headers = true', async () => {
    const headers = await seenWith(true);
    assert.equal(headers.x_forwarded_for, '203.0.113.66');
    assert.equal(headers.x_custom, 'a');
  });

  test('a non-boolean underscores_in_headers or normalize_path is a config error naming the key', async () => {
    await assert.rejects(
      startServer({
        inProcess: true,
        config: { plugins: ['proxy'], server: { port: 0 }, proxy: { underscores_in_headers: 'yes' } },
      }),
      /proxy\.underscores_in_headers/,
    );
    await assert.rejects(
      startServer({
        inProcess: true,
        config: {
          plugins: ['proxy'],
          server: { port: 0 },
          proxy: { routes: [{ match: '^/', backends: ['http://127.0.0.1:9'], normalize_path: 'no' }] },
        },
      }),
      /proxy\.routes\.0\.normalize_path|proxy\.routes\[0\]\.normalize_path/,
    );
  });

  test("a route's host is compared in normal form; one with a port (never matching) is a config error", async () => {
    const route = { match: '^/', backends: [backend.url] };
    const server = await startServer({
      inProcess: true,
      config: {
        plugins: ['proxy'],
        server: { host: '127.0.0.1', port: 0 },
        proxy: { routes: [{ ...route, host: 'Site.Test.' }] },
      },
    });
    try {
      assert.equal((await send(server.port, '/h', ['Host: site.test:8080'])).status, 200);
    } finally {
      await server.close();
    }
    await assert.rejects(
      startServer({
        inProcess: true,
        config: {
          plugins: ['proxy'],
          server: { port: 0 },
          proxy: { routes: [{ ...route, host: 'site.test:80' }] },
        },
      }),
      /host.*without port/,
    );
  });
});

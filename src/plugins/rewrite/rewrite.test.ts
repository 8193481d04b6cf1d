/**
 * The `rewrite` plugin over real sockets: redirects with captures, status and query; no scheme-relative
 * open redirect; internal rewrites seen by static files, the cache and proxy routes (and `last`);
 * `try_files` for a single-page app (file, directory, fallback, `=404`); config errors naming the key.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type FakeBackend, startFakeBackend } from '../../../test/helpers/fake-backend.ts';
import { rawRequest } from '../../http/test-client.ts';
import { type RunningServer, startServer } from '../../main/compose.ts';
import { ConfigError, resolveConfig } from '../../server/config.ts';
import { setLogSink } from '../../server/logger.ts';

async function raw(server: RunningServer, target: string): Promise<string> {
  const head = `GET ${target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`;
  return (await rawRequest(server.port, head, { timeoutMs: 2000 })).toString('latin1');
}

describe('rewrite plugin', () => {
  let root: string;
  let backend: FakeBackend;
  let server: RunningServer;
  before(async () => {
    setLogSink(() => {});
    root = mkdtempSync(join(tmpdir(), 'tamarin-rewrite-'));
    mkdirSync(join(root, 'app/assets'), { recursive: true });
    mkdirSync(join(root, 'docs'), { recursive: true });
    writeFileSync(join(root, 'new.txt'), 'new\n');
    writeFileSync(join(root, 'docs/index.html'), 'docs index\n');
    writeFileSync(join(root, 'app/index.html'), 'spa shell\n');
    writeFileSync(join(root, 'app/assets/app.js'), 'js\n');
    backend = await startFakeBackend();
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['rewrite', 'cache', 'proxy', 'static'],
        server: { host: '127.0.0.1', port: 0 },
        static: { root },
        proxy: { routes: [{ match: '^/backend/', backends: [backend.url] }] },
        rewrite: {
          rules: [
            { match: '^/old/(.*)$', redirect: '/new/$1', status: 308 },
            { match: '^/moved$', redirect: 'https://example.com/there?x=1', status: 301 },
            { match: '^/go/(.*)$', redirect: '/$1' },
            { match: '^/alias\\.txt$', rewrite: '/new.txt' },
            { match: '^/api/(.*)$', rewrite: '/backend/$1', last: true },
            { match: '^/backend/', rewrite: '/never-here' },
            { match: '^/step1$', rewrite: '/step2' },
            { match: '^/step2$', rewrite: '/new.txt' },
            { match: '^/app/', try_files: ['$uri', '$uri/', '/app/index.html'] },
            { match: '^/strict/', try_files: ['$uri', '=404'] },
          ],
        },
      },
    });
  });
  after(async () => {
    await server?.close();
    await backend?.stop();
    setLogSink(null);
    rmSync(root, { recursive: true, force: true });
  });

  it('redirects with captures, the chosen status and the query kept', async () => {
    const reply = await raw(server, '/old/a/b.html?q=1');
    assert.match(reply, /^HTTP\/1\.1 308 Permanent Redirect\r\n/);
    assert.match(reply, /\r\nLocation: \/new\/a\/b\.html\?q=1\r\n/);
    const away = await raw(server, '/moved?y=2');
    assert.match(away, /^HTTP\/1\.1 301 /);
    assert.match(away, /\r\nLocation: https:\/\/example\.com\/there\?x=1\r\n/, 'the target’s own query wins');
  });

  it('never turns a capture into a scheme-relative redirect to another site', async () => {
    const reply = await raw(server, '/go//evil.example/x');
    assert.match(reply, /^HTTP\/1\.1 302 /);
    assert.match(reply, /\r\nLocation: \/evil\.example\/x\r\n/);
  });

  it('rewrites internally: static files, the cache and later rules see the new path', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${server.url}/alias.txt`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'new\n');
    }
    const chained = await fetch(`${server.url}/step1`);
    assert.equal(await chained.text(), 'new\n', 'later rules see the rewritten path');
  });

  it('rewrites before proxy routing, and last stops the rules', async () => {
    const res = await fetch(`${server.url}/api/users?id=7`);
    assert.equal(res.status, 200);
    await res.text();
    assert.equal(backend.seen.at(-1)!.url, '/backend/users?id=7');
  });

  it('try_files: an existing file or directory as is, anything else the SPA shell', async () => {
    assert.equal(await (await fetch(`${server.url}/app/assets/app.js`)).text(), 'js\n');
    const route = await fetch(`${server.url}/app/settings/profile`);
    assert.equal(route.status, 200);
    assert.equal(await route.text(), 'spa shell\n');
    const again = await fetch(`${server.url}/app/settings/profile`);
    assert.equal(await again.text(), 'spa shell\n');
    const dir = await raw(server, '/app/assets');
    assert.match(dir, /^HTTP\/1\.1 301 /, 'a directory without its slash still gets the static redirect');
    const escaped = await raw(server, '/app/%2e%2e/%2e%2e/new.txt');
    // The engine's path normalisation refuses it before any plugin: it goes above the root.
    assert.match(escaped, /^HTTP\/1\.1 400 /, 'a dot segment is never looked up outside');
  });

  it('try_files =404 answers 404', async () => {
    const res = await fetch(`${server.url}/strict/missing`);
    assert.equal(res.status, 404);
    await res.text();
  });

  it('rejects bad rules, naming the key', async () => {
    const bad = async (rewrite: unknown) => {
      try {
        await resolveConfig({ plugins: ['static', 'rewrite'], rewrite });
        assert.fail('accepted');
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.message;
      }
    };
    assert.match(
      await bad({ rules: [{ match: '^/a', redirect: '/b', status: 305 }] }),
      /rewrite\.rules\[0\]\.status: expected 301, 302, 303, 307 or 308/,
    );
    assert.match(
      await bad({ rules: [{ match: '^/a', redirect: '/b', rewrite: '/c' }] }),
      /rewrite\.rules\[0\]: expected exactly one of redirect, rewrite or try_files/,
    );
    assert.match(
      await bad({ rules: [{ match: '^/(a)', rewrite: '/$2' }] }),
      /rewrite\.rules\[0\]\.rewrite: refers to \$2 but match has 1 capture group/,
    );
    assert.match(await bad({ rules: [{ rewrite: 'x' }] }), /rewrite\.rules\[0\]\.rewrite: expected a path/);
    assert.match(
      await bad({ rules: [{ try_files: ['$uri', 'index.html'] }] }),
      /rewrite\.rules\[0\]\.try_files\[1\]: expected a fallback/,
    );
  });
});

/**
 * The `headers` plugin over real sockets: response rules reach files, cache hits and proxied answers
 * (each hit with the rules of its own request), per host and path; set and remove work on hits; request
 * rules change what the backend receives; hop-by-hop and framing fields are refused at start-up.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type FakeBackend, startFakeBackend } from '../../../test/helpers/fake-backend.ts';
import { type RunningServer, startServer } from '../../main/compose.ts';
import { ConfigError, resolveConfig } from '../../server/config.ts';
import { setLogSink } from '../../server/logger.ts';

describe('headers plugin', () => {
  let root: string;
  let backend: FakeBackend;
  let server: RunningServer;
  before(async () => {
    setLogSink(() => {});
    root = mkdtempSync(join(tmpdir(), 'tamarin-headers-'));
    writeFileSync(join(root, 'a.txt'), 'a\n');
    writeFileSync(join(root, 'b.css'), 'b{}\n');
    backend = await startFakeBackend();
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['headers', 'cache', 'proxy', 'static'],
        server: { host: '127.0.0.1', port: 0 },
        static: { root },
        proxy: { routes: [{ match: '^/api/', backends: [backend.url] }] },
        headers: {
          rules: [
            { response: { add: { 'X-Frame-Options': 'DENY' } } },
            { match: '\\.css$', response: { set: { 'Cache-Control': 'public, max-age=31536000' } } },
            { host: 'other.test', response: { add: { 'X-Other': 'yes' }, remove: ['ETag'] } },
            {
              match: '^/api/',
              request: { set: { 'X-Env': 'test' }, remove: ['Cookie'], add: { 'X-Added': '1' } },
              response: { remove: ['X-Backend'] },
            },
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

  it('adds a response field to a miss and to every hit', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${server.url}/a.txt`);
      assert.equal(await res.text(), 'a\n');
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
    }
    const [stats] = await server.control('cache', 'stats');
    assert.ok((stats!.result as { hits: number }).hits >= 2);
  });

  it('applies per-path set rules on hits, replacing the stored field', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${server.url}/b.css`);
      await res.text();
      assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000');
    }
    const plain = await fetch(`${server.url}/a.txt`);
    assert.equal(plain.headers.get('cache-control'), null, 'the rule is for .css only');
  });

  it('applies per-host rules, and a hit for one host does not carry another host’s fields', async () => {
    const fetchAs = (host: string) =>
      new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
        import('node:http').then(({ request }) => {
          const r = request(`${server.url}/a.txt`, { headers: { host } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.headers));
          });
          r.on('error', reject);
          r.end();
        });
      });
    const other = await fetchAs('other.test');
    assert.equal(other['x-other'], 'yes');
    assert.equal(other.etag, undefined);
    const main = await fetchAs('main.test');
    assert.equal(main['x-other'], undefined);
    assert.ok(main.etag);
  });

  it('edits the request the backend receives and the response it sends back', async () => {
    const res = await fetch(`${server.url}/api/x`, { headers: { cookie: 'a=1', 'x-env': 'prod' } });
    await res.text();
    assert.equal(res.headers.get('x-backend'), null);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    const seen = backend.seen.at(-1)!;
    assert.equal(seen.headers['x-env'], 'test');
    assert.equal(seen.headers.cookie, undefined);
    assert.equal(seen.headers['x-added'], '1');
  });

  it('refuses hop-by-hop and framing fields and bad regexes, naming the key', async () => {
    const bad = async (headers: unknown) => {
      try {
        await resolveConfig({ plugins: ['headers'], headers });
        assert.fail('accepted');
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.message;
      }
    };
    assert.match(
      await bad({ rules: [{ response: { add: { Connection: 'close' } } }] }),
      /headers\.rules\[0\]\.response\.add\.Connection: framing, hop-by-hop/,
    );
    assert.match(
      await bad({ rules: [{ request: { remove: ['Transfer-Encoding'] } }] }),
      /headers\.rules\[0\]\.request\.remove\[0\]/,
    );
    assert.match(await bad({ rules: [{ match: '(' }] }), /headers\.rules\[0\]\.match: invalid regex/);
    assert.match(
      await bad({ rules: [{ response: { add: { 'X-A': 'a\nb' } } }] }),
      /without control characters/,
    );
  });
});

/**
 * The HTTP cache configured the way a user does it: `cache = true` (or a table) in a `[[proxy.routes]]`
 * entry of a TOML file, through `startServer`. Bad values are config errors naming the key.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startServer } from '../src/main/compose.ts';
import { answer, Clock, closeAgent, FakeOrigin, get } from './helpers/fake-origin.ts';

after(() => closeAgent());

function toml(origin: string, cache: string, plugins = '["cache", "proxy"]'): string {
  return `plugins = ${plugins}
[server]
host = "127.0.0.1"
port = 0
[[proxy.routes]]
match = "^/api/"
backends = ["${origin}"]
cache = ${cache}
[[proxy.routes]]
match = "^/live/"
backends = ["${origin}"]
`;
}

test('cache = true on a route caches it; a route without it is passed through', async () => {
  const clock = new Clock();
  clock.now = Date.now();
  const origin = await new FakeOrigin(clock, answer({ 'Cache-Control': 'max-age=60' })).start();
  const server = await startServer({ inProcess: true, config: toml(origin.url, 'true') });
  const port = Number(new URL(server.url).port);
  try {
    await get(port, '/api/a');
    const hit = await get(port, '/api/a');
    assert.match(String(hit.headers['cache-status']), /^tamarin; hit$/);
    await get(port, '/live/a');
    await get(port, '/live/a');
    assert.equal(origin.hits, 3);
    const [stats] = await server.control('cache', 'stats');
    assert.equal((stats!.result as { hits: number }).hits, 1);
  } finally {
    await server.close();
    await origin.stop();
  }
});

test('a misspelled key in a route cache table is a config error naming it', async () => {
  await assert.rejects(
    startServer({ inProcess: true, config: toml('http://127.0.0.1:9', '{ defualt_ttl = "5s" }') }),
    /proxy\.routes\[?0\]?\.cache[^\n]*defualt_ttl|defualt_ttl[^\n]*proxy\.routes/s,
  );
  await assert.rejects(
    startServer({ inProcess: true, config: toml('http://127.0.0.1:9', '{ default_ttl = "soon" }') }),
    /default_ttl[\s\S]*expected a duration/,
  );
});

test('cache on a route without the cache plugin is a config error naming both plugins', async () => {
  await assert.rejects(
    startServer({ inProcess: true, config: toml('http://127.0.0.1:9', 'true', '["proxy"]') }),
    /plugin "proxy" needs the "cache-store" service, which plugin "cache" provides: add "cache" to plugins/,
  );
  await assert.rejects(
    startServer({
      inProcess: true,
      config: `${toml('http://127.0.0.1:9', 'true')}[cache]\nenabled = false\n`,
    }),
    /plugin "proxy" needs the "cache-store" service, which plugin "cache" provides, but \[cache\] has enabled = false/,
  );
});

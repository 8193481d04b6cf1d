/**
 * Warm restart of proxied responses across two server starts: the first run saves them, bodies
 * included, on close; the second answers them as hits without asking the origin, their age having gone
 * on. A damaged state file is a warning and a cold start, never a wrong answer.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, mock, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RunningServer, startServer } from '../src/server/start.ts';
import { captureLogs, fetchText } from './helpers/fake-backend.ts';

const root = mkdtempSync(join(tmpdir(), 'tamarin-warm-proxy-'));
const stateFile = join(root, 'state', 'cache.json');
let origin: http.Server;
let originUrl = '';
let originHits = 0;

before(async () => {
  origin = http.createServer((req, res) => {
    originHits++;
    res.writeHead(200, { 'cache-control': 'max-age=600', 'cache-tag': 'warm', 'content-type': 'text/plain' });
    res.end(`proxied ${req.url}`);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as { port: number }).port}`;
});
after(() => {
  origin?.close();
  rmSync(root, { recursive: true, force: true });
});

function start(): Promise<RunningServer> {
  return startServer({
    config: {
      plugins: ['cache', 'proxy'],
      server: { host: '127.0.0.1', port: 0 },
      cache: { warm_restart: true, state_file: stateFile },
      proxy: { routes: [{ match: '^/', backends: [originUrl], cache: true }] },
    },
    inProcess: true,
  });
}

async function warmLoaded(server: RunningServer, count: number): Promise<number> {
  let loaded = 0;
  for (let i = 0; i < 100 && loaded < count; i++) {
    loaded = ((await server.control('cache', 'stats'))[0]!.result as { warmLoaded: number }).warmLoaded;
    if (loaded < count) await sleep(20);
  }
  return loaded;
}

test('proxied responses survive a restart, bodies and tags included', async (t) => {
  // Only the wall clock is faked (timers stay real): the restart happens "1.1 s later" without waiting.
  mock.timers.enable({ apis: ['Date'], now: Date.now() });
  t.after(() => mock.timers.reset());
  const first = await start();
  for (const p of ['/one', '/two', '/two']) await fetchText(`${first.url}${p}`);
  assert.equal(originHits, 2);
  await first.close();
  const saved = statSync(`${stateFile}.proxy`);
  assert.equal(saved.mode & 0o077, 0, 'not readable by others');

  mock.timers.tick(1100);
  const second = await start();
  try {
    assert.equal(await warmLoaded(second, 2), 2);
    const one = await fetchText(`${second.url}/one`);
    assert.equal(one.body, 'proxied /one');
    assert.match(String(one.headers['cache-status']), /^tamarin; hit$/);
    assert.ok(Number(one.headers.age) >= 1, 'its age went on');
    assert.equal((await fetchText(`${second.url}/two`)).body, 'proxied /two');
    assert.equal(originHits, 2, 'the origin was not asked again');
    // The tag index was rebuilt: a tag purge finds them.
    const purged = (await second.control('cache', 'purge', { tag: 'warm' }))[0]!.result as {
      removed: number;
    };
    assert.equal(purged.removed, 2);
  } finally {
    await second.close();
  }
});

test('a damaged proxy state file: a warning and a cold start', async () => {
  writeFileSync(`${stateFile}.proxy`, Buffer.from([0, 0, 0, 9, 123, 34, 120]));
  const logs = captureLogs();
  const server = await start();
  try {
    await sleep(100);
    assert.ok(
      logs.lines.some((l) => /proxy.*(damaged|not a proxy state)/.test(l)),
      logs.lines.join('\n'),
    );
    const before = originHits;
    await fetchText(`${server.url}/one`);
    assert.equal(originHits, before + 1);
  } finally {
    logs.restore();
    await server.close();
  }
});

/**
 * The web-server plugins under a configuration reload, over two workers: header, rewrite and access
 * rules change with the reload; a rate limit keeps the budget it had (its shared memory, created once by
 * the primary, is handed to the reloaded plugins); a reload that needs more shared memory than was
 * created at start is refused, naming the plugin, and the old configuration keeps serving.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { ConfigError } from '../src/server/config-errors.ts';
import { setLogSink } from '../src/server/logger.ts';

/** One request on its own connection (so that both workers take some). */
async function get(
  url: string,
): Promise<{ status: number; generation: string | null; location: string | null }> {
  const res = await fetch(url, { headers: { connection: 'close' }, redirect: 'manual' });
  await res.arrayBuffer();
  return {
    status: res.status,
    generation: res.headers.get('x-generation'),
    location: res.headers.get('location'),
  };
}

/** The configuration of generation `n`: rules that differ per generation, one rate limit of burst 4. */
function configOf(n: number, root: string, extraLimit = false): Record<string, unknown> {
  const rules: Record<string, unknown>[] = [{ match: '^/limited', rate_limit: { rate: '1/h', burst: 4 } }];
  if (n > 1) rules.push({ match: '^/blocked', deny: ['127.0.0.0/8'] });
  if (extraLimit) rules.push({ match: '^/api', rate_limit: { rate: '1/h', burst: 1 } });
  return {
    plugins: ['access', 'headers', 'rewrite', 'static'],
    server: { host: '127.0.0.1', port: 0, workers: 2 },
    admin: { enabled: false },
    static: { root },
    access: { rules },
    headers: { rules: [{ response: { set: { 'X-Generation': String(n) } } }] },
    rewrite: { rules: n > 1 ? [{ match: '^/old$', redirect: '/new', status: 301 }] : [] },
  };
}

describe('web plugins across a reload', () => {
  let root: string;
  let server: RunningServer;
  let next: Record<string, unknown>;
  before(async () => {
    setLogSink(() => {});
    root = mkdtempSync(join(tmpdir(), 'tamarin-web-reload-'));
    writeFileSync(join(root, 'limited'), 'limited\n');
    writeFileSync(join(root, 'blocked'), 'blocked\n');
    writeFileSync(join(root, 'old'), 'old\n');
    next = configOf(1, root);
    server = await startServer({
      config: configOf(1, root),
      reloadConfig: async () => structuredClone(next),
    });
  });
  after(async () => {
    await server?.close();
    setLogSink(null);
    rmSync(root, { recursive: true, force: true });
  });

  it('changes header, rewrite and access rules, and the rate budget carries over', async () => {
    assert.equal((await get(`${server.url}/limited`)).status, 200);
    assert.equal((await get(`${server.url}/limited`)).status, 200);
    const before = await get(`${server.url}/old`);
    assert.equal(before.status, 200);
    assert.equal(before.generation, '1');
    assert.equal((await get(`${server.url}/blocked`)).status, 200);

    next = configOf(2, root);
    await server.reload();
    const redirected = await get(`${server.url}/old`);
    assert.equal(redirected.status, 301);
    assert.equal(redirected.location, '/new');
    assert.equal(redirected.generation, '2');
    assert.equal((await get(`${server.url}/blocked`)).status, 403);
    // Two of the four tokens were spent before the reload: two more get through, on either worker.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await get(`${server.url}/limited`)).status);
    assert.deepEqual(
      statuses.filter((s) => s === 200).length,
      2,
      `the budget is the one before the reload: ${statuses.join(',')}`,
    );
  });

  it('refuses a reload that needs more shared memory, naming the plugin, and keeps serving', async () => {
    next = configOf(3, root, true);
    await assert.rejects(server.reload(), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /access: needs \d+ bytes of shared memory, more than the \d+ created/);
      assert.match(error.message, /restart the server/);
      return true;
    });
    const still = await get(`${server.url}/old`);
    assert.equal(still.generation, '2');
    assert.equal(still.status, 301);
  });
});

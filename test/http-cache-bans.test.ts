/**
 * Bans over real sockets, on a fake clock: a ban removes, on their next lookup, the stored responses
 * (stored before it) whose URL / host / stored field match; responses stored after it are not affected;
 * the background sweep removes the others and then clears the ban list. Bad expressions are refused.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type BanInfo, MAX_BANS } from '../src/http-cache/bans.ts';
import { Clock, closeAgent, FakeOrigin, get, startRig } from './helpers/fake-origin.ts';

after(() => closeAgent());

async function rigWithOrigin() {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, (req, res) => {
    const image = req.url?.endsWith('.png');
    res.writeHead(200, {
      'Cache-Control': 'max-age=600',
      'Content-Type': image ? 'image/png' : 'text/plain',
    });
    res.end(`body of ${req.url}`);
  }).start();
  const rig = await startRig(clock, [origin.url]);
  return { clock, origin, rig };
}

const isHit = (r: { headers: Record<string, unknown> }) => /hit/.test(String(r.headers['cache-status']));

test('a URL ban: matching entries stored before it miss once (removed), others hit, later ones are kept', async () => {
  const { origin, rig } = await rigWithOrigin();
  try {
    for (const p of ['/b/1', '/b/2', '/c/1']) await get(rig.port, p);
    const ban = (await rig.cache.control('ban', { url: '^/b/1$' })) as BanInfo;
    assert.equal(ban.id, 1);
    assert.equal(isHit(await get(rig.port, '/b/1')), false, 'banned: fetched again');
    assert.equal(isHit(await get(rig.port, '/b/2')), true, 'not matching');
    assert.equal(isHit(await get(rig.port, '/c/1')), true);
    assert.equal(isHit(await get(rig.port, '/b/1')), true, 'stored after the ban: kept');
    assert.equal(origin.hits, 4);
    const listed = (await rig.cache.control('bans', undefined)) as BanInfo[];
    assert.deepEqual(
      listed.map((b) => [b.url, b.removed]),
      [['^/b/1$', 1]],
    );
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test("with the shared store a ban still applies once the worker's list is full: the owner's pass", {
  skip: process.env.TAMARIN_RIG_SHARED !== '1' && 'the shared store only (a per-worker list is swept)',
}, async () => {
  const { origin, rig } = await rigWithOrigin();
  try {
    for (let i = 0; i < MAX_BANS; i++) await rig.cache.control('ban', { url: `^/none/${i}$` });
    await get(rig.port, '/b/1');
    assert.equal(isHit(await get(rig.port, '/b/1')), true);
    const ban = (await rig.cache.control('ban', { url: '^/b/1$' })) as BanInfo;
    assert.deepEqual([ban.id, ban.removed], [0, 1], 'not listed, applied by the owner');
    assert.equal(isHit(await get(rig.port, '/b/1')), false);
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('the sweep removes matching entries nobody asked for, then clears the ban list', {
  skip: process.env.TAMARIN_RIG_SHARED === '1' && 'what a per-worker store has',
}, async () => {
  const { origin, rig } = await rigWithOrigin();
  try {
    for (const p of ['/s/a.png', '/s/b.txt', '/t/c.png']) await get(rig.port, p);
    await rig.cache.control('ban', { field: 'content-type', value: '^image/', host: '^127\\.0\\.0\\.1$' });
    await rig.cache.control('ban', { url: '^/nothing/' });
    assert.equal(((await rig.cache.control('bans', undefined)) as BanInfo[]).length, 2);
    await rig.http!.banSweeper.sweep();
    assert.deepEqual(await rig.cache.control('bans', undefined), [], 'every entry checked: bans retired');
    const entries = (await rig.cache.control('entries', { limit: 100 })) as {
      entries: Array<{ path: string }>;
    };
    assert.deepEqual(
      entries.entries.map((e) => e.path),
      ['/s/b.txt'],
      'both images removed by the sweep alone',
    );
    const hits = origin.hits;
    assert.equal(isHit(await get(rig.port, '/s/b.txt')), true);
    assert.equal(isHit(await get(rig.port, '/s/a.png')), false);
    assert.equal(origin.hits, hits + 1);
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('bad bans are refused with the reason', async () => {
  const { origin, rig } = await rigWithOrigin();
  try {
    await assert.rejects(
      async () => rig.cache.control('ban', { url: '(' }),
      /url: invalid regular expression/,
    );
    await assert.rejects(async () => rig.cache.control('ban', {}), /needs url, host or field/);
    await assert.rejects(
      async () => rig.cache.control('ban', { field: 'content-type' }),
      /field and value go together/,
    );
    await assert.rejects(async () => rig.cache.control('ban', { url: 'x', extra: 1 }));
  } finally {
    await rig.close();
    await origin.stop();
  }
});

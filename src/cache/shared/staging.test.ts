import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Response } from '../../http/types.ts';
import { createPolicy } from '../policies/index.ts';
import { directLink, SharedStoreClient } from './client.ts';
import { toSharedInput } from './input.ts';
import { createSharedBuffer, GRANULE, stagingBytesFor } from './layout.ts';
import { SharedStoreOwner } from './owner.ts';
import { LENT_TIMEOUT_MS, StagingArea } from './staging.ts';
import { bodyVersion, fakeResponse, patternBody, patternRecord, splitAnswer } from './test-support.ts';

function makeStore(maxBytes: number) {
  const sab = createSharedBuffer({ maxBytes, maxEntries: 1024, workers: 2 });
  const owner = new SharedStoreOwner(sab, { createPolicy: (o) => createPolicy('lru', o) });
  const client = (worker: number) => new SharedStoreClient(sab, worker, directLink(owner));
  return { sab, owner, client };
}

/** Stage `key`'s pattern body in `client`'s area as a miss does (read into the block, socket done). */
function stage(client: SharedStoreClient, key: string, version: number, size: number) {
  const block = client.staging.lend(size, 0)!;
  assert.ok(block, 'room in the staging area');
  patternBody(key, version, size).copy(block.buffer);
  return block;
}

function served(client: SharedStoreClient, key: string): Buffer | null {
  const entry = client.get(key, 0);
  if (entry === undefined) return null;
  const { res, sent } = fakeResponse();
  entry.send(res as unknown as Response, true, 0);
  const one = sent[0]!;
  if (one.body === null) return splitAnswer(one.head).body;
  const body = Buffer.from(one.body);
  one.release?.();
  return body;
}

describe('staging area', () => {
  test('a block is freed only when both the write and the commit let go, in either order', () => {
    const area = new StagingArea(Buffer.alloc(4 * GRANULE));
    const a = area.lend(2 * GRANULE, 0)!;
    const b = area.lend(2 * GRANULE, 0)!;
    assert.equal(area.lend(1, 0), null, 'full');
    a.release();
    assert.equal(area.lend(1, 0), null, 'the commit still holds a');
    a.endCommit();
    b.endCommit();
    assert.ok(area.lend(2 * GRANULE, 0), 'a is free');
    assert.equal(area.lend(1, 0), null, 'the write still holds b');
    b.release();
    b.release(); // exactly once: a second call changes nothing
    assert.ok(area.lend(2 * GRANULE, 0));
  });

  test('a block lent and never committed is taken back after LENT_TIMEOUT_MS, one being committed never', () => {
    const area = new StagingArea(Buffer.alloc(2 * GRANULE));
    const lost = area.lend(GRANULE, 0)!;
    lost.release();
    const sending = area.lend(GRANULE, 0)!;
    sending.release();
    assert.equal(sending.beginCommit(), true);
    assert.equal(area.lend(GRANULE, LENT_TIMEOUT_MS - 1), null, 'not yet');
    assert.ok(area.lend(GRANULE, LENT_TIMEOUT_MS), 'the lost block came back');
    assert.equal(lost.beginCommit(), false, 'a block taken back is not committed any more');
    assert.equal(area.lend(GRANULE, 10 * LENT_TIMEOUT_MS), null, 'the block being committed stays taken');
  });
});

describe('shared store: staged commits', () => {
  test('a staged body is copied by the owner and served; the area is reused afterwards', async () => {
    const { owner, client } = makeStore(4 * 1024 * 1024);
    const worker = client(1);
    const size = 100_000;
    const rounds = Math.ceil((2 * stagingBytesFor(4 * 1024 * 1024)) / size);
    for (let i = 0; i < rounds; i++) {
      const key = `/s${i}`;
      const block = stage(worker, key, i, size);
      block.release();
      const input = toSharedInput(patternRecord(key, i, size), 0);
      assert.equal(await worker.setStaged(input, block), true);
      assert.equal(bodyVersion(key, served(worker, key)!), i);
    }
    assert.equal(worker.staging.used, 0, 'every block came back');
    assert.deepEqual(owner.recount(), { bytes: owner.bytes, count: owner.count });
    owner.close();
  });

  test('a commit sent by a thread that is gone is refused, and the next thread starts with its area free', async () => {
    const { sab, owner } = makeStore(1024 * 1024);
    const dead = new SharedStoreClient(sab, 1, directLink(owner));
    const block = stage(dead, '/x', 1, 5000);
    // The thread dies with the block lent (read, never committed); its commit arrives after its exit.
    const late = toSharedInput(patternRecord('/x', 1, 5000), 0);
    owner.resetWorker(1);
    assert.equal(await dead.setStaged(late, block), false, 'refused: the area may be the next thread’s');
    assert.equal(dead.peek('/x'), undefined);
    const next = new SharedStoreClient(sab, 1, directLink(owner));
    assert.equal(next.staging.used, 0);
    const again = stage(next, '/x', 2, 5000);
    again.release();
    assert.equal(await next.setStaged(toSharedInput(patternRecord('/x', 2, 5000), 0), again), true);
    assert.equal(bodyVersion('/x', served(next, '/x')!), 2);
    owner.close();
  });

  test('a staged commit naming bytes outside the worker’s area is refused', () => {
    const { owner } = makeStore(1024 * 1024);
    const input = toSharedInput(patternRecord('/y', 1, 10), 0);
    input.body = null;
    for (const staged of [
      { worker: 1, incarnation: 0, at: stagingBytesFor(1024 * 1024) - 5, length: 10 },
      { worker: 2, incarnation: 0, at: 0, length: 10 },
      { worker: 0, incarnation: 0, at: -64, length: 10 },
    ]) {
      input.staged = staged;
      assert.equal(owner.set(input), false);
    }
    assert.equal(owner.count, 0);
    owner.close();
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MessageChannel, Worker } from 'node:worker_threads';
import { createPolicy, POLICY_NAMES } from '../policies/index.ts';
import { type OwnerRequest, serveOwnerBatch } from './client.ts';
import { createSharedBuffer } from './layout.ts';
import { SharedStoreOwner } from './owner.ts';

const FIXTURE = new URL('./hammer-worker.ts', import.meta.url);

interface HammerStats {
  reads: number;
  hits: number;
  stores: number;
  purges: number;
  pinnedChecks: number;
  errors: string[];
}

/** Start `workers` hammering threads against one owner in this thread; resolves with their reports. */
function hammer(owner: SharedStoreOwner, sab: SharedArrayBuffer, workers: number, durationMs: number) {
  const threads: Worker[] = [];
  const reports: Array<Promise<HammerStats | null>> = [];
  for (let w = 0; w < workers; w++) {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (requests: OwnerRequest[]) => port1.postMessage(serveOwnerBatch(owner, requests)));
    const worker = new Worker(FIXTURE, {
      workerData: { sab, worker: w, port: port2, durationMs, keys: 40 },
      transferList: [port2],
    });
    threads.push(worker);
    reports.push(
      new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', () => {
          port1.close();
          resolve(null);
        });
      }),
    );
  }
  return { threads, reports };
}

describe('shared store across worker threads', () => {
  for (const policy of POLICY_NAMES) {
    test(`4 workers hammer the same keys (${policy}): every byte sent is one version's, totals match a recount`, async () => {
      const sab = createSharedBuffer({ maxBytes: 512 * 1024, maxEntries: 64, workers: 4 });
      const owner = new SharedStoreOwner(sab, { createPolicy: (o) => createPolicy(policy, o) });
      const { reports } = hammer(owner, sab, 4, policy === 'w-tinylfu' ? 2000 : 700);
      const results = (await Promise.all(reports)) as HammerStats[];
      owner.maintain();
      for (const r of results) {
        assert.deepEqual(r.errors, [], 'no torn or mixed response');
        assert.ok(r.reads > 0);
      }
      // A thread that starts late on a busy machine may find every key stored: count over all of them.
      const total = (key: 'hits' | 'stores') => results.reduce((sum, r) => sum + r[key], 0);
      assert.ok(total('hits') > 0 && total('stores') > 0, `hits ${total('hits')}, stores ${total('stores')}`);
      assert.ok(
        results.some((r) => r.pinnedChecks > 0),
        'large bodies were written under a pin',
      );
      assert.ok(owner.bytes <= owner.maxBytes);
      assert.deepEqual(owner.recount(), { bytes: owner.bytes, count: owner.count });
      owner.close();
    });
  }

  test('a worker terminated mid-run leaves nothing held: the others carry on, its pins are dropped', async () => {
    const sab = createSharedBuffer({ maxBytes: 512 * 1024, maxEntries: 64, workers: 4 });
    const owner = new SharedStoreOwner(sab, { createPolicy: (o) => createPolicy('s3fifo', o) });
    const { threads, reports } = hammer(owner, sab, 4, 1500);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await threads[3]!.terminate();
    owner.resetWorker(3);
    const results = await Promise.all(reports);
    assert.equal(results[3], null, 'the terminated worker never reported');
    for (const r of results.slice(0, 3)) {
      assert.ok(r !== null);
      assert.deepEqual(r.errors, []);
      assert.ok(r.hits > 0);
    }
    owner.maintain();
    assert.equal(owner.arena.totals[11], 0, 'no extent is left pinned');
    assert.deepEqual(owner.recount(), { bytes: owner.bytes, count: owner.count });
    owner.close();
  });
});

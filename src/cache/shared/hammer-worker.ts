/**
 * Test fixture (concurrency.test.ts): one worker thread hammering the shared store for a bounded time —
 * reads that check every byte sent against the version its head announces, stores of new versions,
 * purges — and reporting what it saw. Pinned (large) bodies are checked again after a delay, before the
 * pin is released, as a socket still reading them would.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Response } from '../../http/types.ts';
import { portLink, SharedStoreClient } from './client.ts';
import { toSharedInput } from './input.ts';
import { bodyVersion, fakeResponse, patternRecord, splitAnswer } from './test-support.ts';

interface Params {
  sab: SharedArrayBuffer;
  worker: number;
  port: import('node:worker_threads').MessagePort;
  durationMs: number;
  keys: number;
}

const { sab, worker, port, durationMs, keys } = workerData as Params;
const client = new SharedStoreClient(sab, worker, portLink(port));
const SIZES = [40, 900, 5000, 20_000, 70_000];
const stats = { reads: 0, hits: 0, stores: 0, purges: 0, pinnedChecks: 0, errors: [] as string[] };
let seed = 12345 + worker * 7919;
const random = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) | 0;
  return ((seed >>> 8) & 0xffffff) % n;
};

function check(key: string, head: string, body: Buffer, where: string): void {
  const match = /X-Version: (\d+)\r\n/.exec(head);
  const version = bodyVersion(key, body);
  if (match === null || version !== Number(match[1])) {
    if (stats.errors.length < 10) stats.errors.push(`${where} ${key}: head ${match?.[1]} body ${version}`);
  }
}

const end = Date.now() + durationMs;
let outstanding = 0;
while (Date.now() < end) {
  for (let i = 0; i < 200; i++) {
    const key = `/k${random(keys)}`;
    stats.reads++;
    const entry = client.get(key, Date.now());
    if (entry !== undefined) {
      const { res, sent } = fakeResponse();
      if (!entry.send(res as unknown as Response, true, 0)) continue;
      stats.hits++;
      const one = sent[0]!;
      if (one.body === null) {
        const { head, body } = splitAnswer(one.head);
        check(key, head, body, 'copy');
      } else {
        const head = one.head.toString('latin1');
        check(key, head, one.body, 'pinned');
        // A slow socket: the bytes must stay intact until the write ends, however the store churns.
        const body = one.body;
        const release = one.release!;
        setTimeout(() => {
          stats.pinnedChecks++;
          check(key, head, body, 'pinned-later');
          release();
        }, random(20));
      }
    } else if (outstanding < 32) {
      outstanding++;
      const size = SIZES[random(SIZES.length)]!;
      const record = patternRecord(key, random(1000), size);
      client.set(toSharedInput(record, Number.POSITIVE_INFINITY)).then(
        (stored) => {
          outstanding--;
          if (stored) stats.stores++;
        },
        () => outstanding--,
      );
    }
    if (random(2000) === 0) {
      stats.purges++;
      void client.purge({ prefix: `/k${random(10)}` }).catch(() => {});
    }
  }
  await new Promise((resolve) => setImmediate(resolve));
}
// Let the delayed checks and the last stores finish.
await new Promise((resolve) => setTimeout(resolve, 100));
parentPort!.postMessage(stats);

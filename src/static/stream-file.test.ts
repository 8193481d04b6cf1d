import assert from 'node:assert/strict';
import { fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Response } from '../http/types.ts';
import { pooledChunks, streamParts } from './stream-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'tamarin-stream-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const data = Buffer.alloc(200 * 1024);
for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
const file = join(dir, 'data.bin');
writeFileSync(file, data);

/** A response whose socket is "full" after every write until a drain, which the test controls. */
function slowResponse() {
  const chunks: Buffer[] = [];
  const drains: Array<() => void> = [];
  const aborts: Array<() => void> = [];
  // writesWhileFull: writes after a `false` and before its drain (what backpressure forbids).
  const state = { ended: false, destroyed: false, aborted: false, full: false, writesWhileFull: 0 };
  const res = {
    get aborted() {
      return state.aborted;
    },
    get finished() {
      return state.ended || state.destroyed;
    },
    write(chunk: Buffer) {
      if (state.full) state.writesWhileFull++;
      state.full = true;
      chunks.push(Buffer.from(chunk));
      return false;
    },
    end() {
      state.ended = true;
    },
    destroy() {
      state.destroyed = true;
    },
    onDrain(callback: () => void) {
      drains.push(() => {
        state.full = false;
        callback();
      });
    },
    onAbort(callback: () => void) {
      aborts.push(callback);
    },
  };
  return { res: res as unknown as Response, chunks, drains, aborts, state };
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

/**
 * Reads and closes run on the libuv threadpool: on a loaded machine they finish after any fixed tick.
 * Wait (bounded) for what the test expects instead of assuming it happened within 5 ms.
 */
async function eventually(done: () => boolean, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; !done() && Date.now() < end; ) await tick();
}

test('honours backpressure: no read until the drain, and the bytes arrive intact', async () => {
  const { res, chunks, drains, state } = slowResponse();
  const fd = openSync(file, 'r');
  streamParts(res, fd, [Buffer.from('<'), { start: 1000, end: 150_000 }, Buffer.from('>')]);
  // The next chunk may still be on the threadpool when a drain comes (a loaded machine): counting writes
  // made while full is exact, where "no new chunk within 5 ms" is not.
  for (let i = 0; i < 2000 && !state.ended; i++) {
    await tick();
    assert.ok(drains.length <= 1, 'one pending drain at a time');
    drains.shift()?.();
  }
  assert.equal(state.writesWhileFull, 0, 'nothing written while the socket is full');
  const body = Buffer.concat(chunks);
  assert.equal(body.toString('latin1', 0, 1), '<');
  assert.ok(body.subarray(1, body.length - 1).equals(data.subarray(1000, 150_001)));
  assert.equal(body.toString('latin1', body.length - 1), '>');
  await eventually(() => !isOpen(fd));
  assert.equal(isOpen(fd), false, 'descriptor closed at the end');
});

test('a client that leaves while we wait for a drain releases the descriptor', async () => {
  const { res, drains, aborts, state } = slowResponse();
  const fd = openSync(file, 'r');
  streamParts(res, fd, [{ start: 0, end: data.length - 1 }]);
  await eventually(() => drains.length > 0); // first chunk read and written; now waiting for a drain
  state.aborted = true;
  for (const abort of aborts) abort();
  await eventually(() => !isOpen(fd));
  assert.equal(isOpen(fd), false);
  assert.equal(state.ended, false, 'an aborted response is not ended as if complete');
});

test('a file shorter than promised destroys the response instead of ending it', async () => {
  const short = join(dir, 'short.bin');
  writeFileSync(short, Buffer.alloc(10));
  const { res, drains, state } = slowResponse();
  const fd = openSync(short, 'r');
  streamParts(res, fd, [{ start: 0, end: 99_999 }]);
  for (let i = 0; i < 20 && !state.destroyed; i++) {
    await tick();
    drains.shift()?.();
  }
  assert.equal(state.destroyed, true);
  assert.equal(state.ended, false);
});

/** A response that keeps the chunks it was given (no copy), as a socket with a full buffer does. */
function holdingResponse(flush: boolean) {
  const held: Buffer[] = [];
  const state = { ended: false };
  const res = {
    aborted: false,
    finished: false,
    write(chunk: Buffer, onFlushed?: () => void) {
      held.push(chunk);
      if (flush) onFlushed?.();
      return true;
    },
    end() {
      state.ended = true;
    },
    destroy() {},
    onDrain() {},
    onAbort() {},
  };
  return { res: res as unknown as Response, held, state };
}

test('a chunk buffer is reused only once the engine reported it flushed', async () => {
  const other = join(dir, 'other.bin');
  writeFileSync(other, Buffer.alloc(400 * 1024, 0xee));
  const kept = holdingResponse(false);
  streamParts(kept.res, openSync(file, 'r'), [{ start: 0, end: data.length - 1 }]);
  while (!kept.state.ended) await tick();
  const flushing = holdingResponse(true);
  streamParts(flushing.res, openSync(other, 'r'), [{ start: 0, end: 400 * 1024 - 1 }]);
  while (!flushing.state.ended) await tick();
  assert.ok(pooledChunks() > 0, 'flushed buffers went back to the pool');
  assert.ok(Buffer.concat(kept.held).equals(data), 'buffers never reported flushed were never reused');
  const reused = holdingResponse(false);
  streamParts(reused.res, openSync(file, 'r'), [{ start: 0, end: data.length - 1 }]);
  while (!reused.state.ended) await tick();
  assert.ok(
    reused.held.some((chunk) => flushing.held.some((old) => old.buffer === chunk.buffer)),
    'a later stream reads into a recycled buffer',
  );
  assert.ok(Buffer.concat(reused.held).equals(data));
});

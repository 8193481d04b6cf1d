import assert from 'node:assert/strict';
import { fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { keepWholeBody, wantsWholeBody } from '../http/body-keepers.ts';
import type { Response } from '../http/types.ts';
import { sendWhole } from './whole-body.ts';

const dir = mkdtempSync(join(tmpdir(), 'tamarin-whole-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const data = Buffer.alloc(300 * 1024);
for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
const file = join(dir, 'data.bin');
writeFileSync(file, data);

/** A response recording what `end` got (by reference) and whether it was destroyed. */
function recorder(aborted = false) {
  const state = { ended: [] as Array<Buffer | undefined>, writes: 0, destroyed: false };
  let settle: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const res = {
    aborted,
    get finished() {
      return state.ended.length > 0 || state.destroyed;
    },
    write() {
      state.writes++;
      return true;
    },
    end(chunk?: Buffer) {
      state.ended.push(chunk);
      settle();
    },
    destroy() {
      state.destroyed = true;
      settle();
    },
  };
  return { res: res as unknown as Response, state, done };
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** Closes run on the threadpool: wait (bounded) rather than assume a fixed delay. */
async function eventually(done: () => boolean, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; !done() && Date.now() < end; ) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('keepWholeBody: only announced responses, only up to their limit', () => {
  const { res } = recorder();
  const other = recorder().res;
  assert.equal(wantsWholeBody(res, 1), false);
  keepWholeBody(res, 1000);
  assert.equal(wantsWholeBody(res, 1000), true);
  assert.equal(wantsWholeBody(res, 1001), false, 'a body the cache would refuse is streamed');
  assert.equal(wantsWholeBody(other, 10), false);
});

test('sendWhole ends with one buffer of exactly the range, owning its memory, and closes the fd', async () => {
  const { res, state, done } = recorder();
  const fd = openSync(file, 'r');
  sendWhole(res, fd, 1000, 200 * 1024);
  await done;
  assert.equal(state.writes, 0);
  assert.equal(state.ended.length, 1);
  const body = state.ended[0]!;
  assert.deepEqual(body, data.subarray(1000, 1000 + 200 * 1024));
  // What lets the cache keep it without a copy (src/cache/entry.ts): not a view into something larger.
  assert.equal(body.byteOffset, 0);
  assert.equal(body.buffer.byteLength, 200 * 1024);
  await eventually(() => !isOpen(fd));
  assert.equal(isOpen(fd), false);
});

test('a file shorter than announced destroys the response instead of ending it short', async () => {
  const { res, state, done } = recorder();
  const fd = openSync(file, 'r');
  sendWhole(res, fd, data.length - 100, 4096);
  await done;
  assert.equal(state.destroyed, true);
  assert.equal(state.ended.length, 0);
  await eventually(() => !isOpen(fd));
  assert.equal(isOpen(fd), false);
});

test('a client gone before the read finished gets no body: destroyed, and the fd is still closed', async () => {
  const { res, state, done } = recorder(true);
  const fd = openSync(file, 'r');
  sendWhole(res, fd, 0, 64 * 1024);
  await done;
  assert.equal(state.ended.length, 0);
  assert.equal(state.destroyed, true);
  await eventually(() => !isOpen(fd));
  assert.equal(isOpen(fd), false);
});

test('an empty range ends at once with an empty body', async () => {
  const { res, state, done } = recorder();
  const fd = openSync(file, 'r');
  sendWhole(res, fd, 0, 0);
  await done;
  assert.equal(state.ended[0]?.length, 0);
  await eventually(() => !isOpen(fd));
  assert.equal(isOpen(fd), false);
});

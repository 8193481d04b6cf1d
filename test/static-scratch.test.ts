/**
 * Medium files nobody keeps are read at once into reusable memory (src/http/scratch-bodies.ts) and sent
 * from there: a buffer goes back to the pool only when the socket is done with it. Over real sockets: one
 * connection asks for many files and does not read, so their bodies wait in its output queue, while
 * another connection cycles the pool many times over; every body the slow reader then gets must be its
 * file's, byte for byte (a buffer reused too early would carry another file's bytes).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SCRATCH_BYTES, scratchLent } from '../src/http/scratch-bodies.ts';
import { parseResponses, rawRequest } from '../src/http/test-client.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { pipelinedGets, slowReader } from './helpers/slow-reader.ts';

const FILES = 24;
/** Sizes across the three scratch buffer sizes, all from the streamed path's threshold up to the largest. */
const SIZE_OF = (i: number) => [64 * 1024, 100 * 1024, 200 * 1024, 256 * 1024][i % 4]!;

let root: string;
let server: RunningServer;
const digests: string[] = [];

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'tamarin-scratch-'));
  for (let i = 0; i < FILES; i++) {
    const bytes = randomBytes(SIZE_OF(i));
    writeFileSync(join(root, `f${i}.bin`), bytes);
    digests.push(sha(bytes));
  }
  server = await startServer({
    config: { plugins: ['static'], static: { root }, server: { port: 0 } },
    inProcess: true,
  });
});

after(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

test('bodies read into scratch memory stay intact while their socket is slow and the pool is reused', async () => {
  // The slow reader: more bytes than the loopback socket buffers take, so later bodies wait in user space.
  const slowTargets = Array.from({ length: 120 }, (_, i) => `/f${i % FILES}.bin`);
  const slow = slowReader(server.port, pipelinedGets(slowTargets));
  // Meanwhile another connection goes through the pool several times over (its bytes are checked too).
  const rounds = Math.ceil((3 * SCRATCH_BYTES) / (FILES * 150 * 1024));
  for (let r = 0; r < rounds; r++) {
    const targets = Array.from({ length: FILES }, (_, i) => `/f${(i + r) % FILES}.bin`);
    const raw = await rawRequest(server.port, pipelinedGets(targets), { timeoutMs: 20_000 });
    const responses = parseResponses(raw, { methods: targets.map(() => 'GET') });
    assert.equal(responses.length, targets.length);
    responses.forEach((response, i) => {
      assert.equal(response.status, 200);
      assert.equal(
        sha(response.body),
        digests[(i + r) % FILES],
        `fast reader, round ${r}, file ${targets[i]}`,
      );
    });
  }
  slow.resume();
  const responses = parseResponses(await slow.received, {
    methods: slowTargets.map(() => 'GET'),
  });
  assert.equal(responses.length, slowTargets.length);
  responses.forEach((response, i) => {
    assert.equal(response.status, 200);
    assert.equal(sha(response.body), digests[i % FILES], `slow reader, response ${i}`);
  });
  // Every buffer came back to the pool once its write was done.
  for (let i = 0; i < 200 && scratchLent() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(scratchLent(), 0, 'no scratch memory left lent');
});

test('a range of a medium file, and a HEAD, are answered from the same path', async () => {
  const raw = await rawRequest(
    server.port,
    'GET /f2.bin HTTP/1.1\r\nhost: localhost\r\nrange: bytes=1000-150999\r\n\r\nHEAD /f2.bin HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n',
    { timeoutMs: 5000 },
  );
  const [range, head] = parseResponses(raw, { methods: ['GET', 'HEAD'] });
  assert.equal(range?.status, 206);
  assert.equal(range?.body.length, 150_000);
  assert.equal(head?.status, 200);
  assert.equal(head?.headers['content-length'], String(200 * 1024));
  assert.equal(head?.body.length, 0);
});

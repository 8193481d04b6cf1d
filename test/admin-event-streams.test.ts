/**
 * Admin event streams (`GET /api/events`) over real sockets: a stream holds its connection open, so one
 * client address may hold only `max_event_streams_per_client` of them; more get 429 with a reason while
 * another client still connects, and a closed stream frees its place.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';

let server: RunningServer;
let adminPort: number;
const sockets: Socket[] = [];

before(async () => {
  setLogSink(() => {});
  server = await startServer({
    inProcess: true,
    config: {
      plugins: ['static'],
      server: { host: '127.0.0.1', port: 0 },
      admin: { port: 0, max_event_streams_per_client: 2 },
    },
  });
  adminPort = server.admin!.port;
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  await server?.close();
  setLogSink(null);
});

/** Open `GET /api/events` from `localAddress`; resolves with the socket and what arrived up to the head's end. */
function openStream(localAddress: string): Promise<{ socket: Socket; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: adminPort, localAddress });
    sockets.push(socket);
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`no answer from the admin (got ${JSON.stringify(text)})`)),
      5000,
    );
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = text.slice(0, end);
      const length = /\r\ncontent-length: (\d+)/i.exec(head);
      // A refusal has a body of known length; a stream starts with its `retry:` line.
      if (length !== null && text.length < end + 4 + Number(length[1])) return;
      if (length === null && !text.includes('retry:')) return;
      clearTimeout(timer);
      resolve({ socket, head, body: text.slice(end + 4) });
    });
    socket.write('GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
  });
}

test('streams over the per-client cap are refused with 429 and a reason; other clients still connect', async () => {
  const one = await openStream('127.0.0.1');
  const two = await openStream('127.0.0.1');
  assert.match(one.head, /^HTTP\/1\.1 200 /);
  assert.match(two.head, /^HTTP\/1\.1 200 /);

  const three = await openStream('127.0.0.1');
  assert.match(three.head, /^HTTP\/1\.1 429 /);
  assert.match(three.head, /\r\nretry-after: 10/i);
  const refusal = JSON.parse(three.body);
  assert.equal(refusal.error, 'too_many_streams');
  assert.match(refusal.message, /max_event_streams_per_client/);

  // Another client address is not held back by this one.
  const other = await openStream('127.0.0.2');
  assert.match(other.head, /^HTTP\/1\.1 200 /);

  // A closed stream gives its place back.
  one.socket.destroy();
  let again: { head: string } | undefined;
  for (let i = 0; i < 50; i++) {
    again = await openStream('127.0.0.1');
    if (/^HTTP\/1\.1 200 /.test(again.head)) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.match(again!.head, /^HTTP\/1\.1 200 /);
});

test('the option is validated', async () => {
  await assert.rejects(
    startServer({
      inProcess: true,
      config: {
        plugins: ['static'],
        server: { port: 0 },
        admin: { port: 0, max_event_streams_per_client: 0 },
      },
    }),
    /admin\.max_event_streams_per_client/,
  );
});

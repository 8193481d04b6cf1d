import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { describe, it } from 'node:test';
import { createEngine, DEFAULT_LIMITS, DEFAULT_TIMEOUTS, type EngineHooks } from './engine.ts';
import { readIntoSharedBuffer, SHARED_READ_SIZE, sharedReadsSupported } from './socket-reader.ts';
import { parseResponses } from './test-client.ts';

/** A listener whose accepted sockets go to `onSocket`; closes every socket on `close()`. */
async function listen(onSocket: (socket: net.Socket) => void) {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/** Everything the peer sends until it closes (bounded). */
async function readToEnd(socket: net.Socket, timeoutMs = 3000): Promise<Buffer> {
  const parts: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => parts.push(chunk));
  const timer = setTimeout(() => socket.destroy(new Error('timed out')), timeoutMs);
  try {
    await once(socket, 'close');
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(parts);
}

describe('readIntoSharedBuffer', () => {
  it('is available on the pinned Node (the engine would silently lose its fast path otherwise)', () => {
    assert.equal(sharedReadsSupported(), true);
  });

  it('delivers reads into the shared buffer with no data events; pause, resume and end still work', async () => {
    const shared = Buffer.alloc(SHARED_READ_SIZE);
    const seen: string[] = [];
    let dataEvents = 0;
    let adopted = false;
    let serverSide: net.Socket | null = null;
    const server = await listen((socket) => {
      serverSide = socket;
      adopted = readIntoSharedBuffer(socket, shared, (nread, buf) => {
        assert.equal(buf, shared);
        seen.push(buf.toString('latin1', 0, nread));
        socket.write('ack' + nread + ';');
      });
      socket.on('data', () => dataEvents++);
      socket.on('end', () => socket.end('bye'));
    });
    try {
      const client = await connect(server.port);
      const received = readToEnd(client);
      client.write('hello');
      await waitFor(() => seen.length === 1);
      serverSide!.pause();
      client.write('while paused');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(seen, ['hello'], 'a paused socket reads nothing');
      serverSide!.resume();
      await waitFor(() => seen.length === 2);
      client.end();
      const all = (await received).toString('latin1');
      assert.equal(adopted, true);
      assert.deepEqual(seen, ['hello', 'while paused']);
      assert.equal(all, 'ack5;ack12;bye');
      assert.equal(dataEvents, 0);
    } finally {
      await server.close();
    }
  });

  it('leaves sockets it cannot switch as they were: already-buffered data, destroyed, twice', async () => {
    const shared = Buffer.alloc(SHARED_READ_SIZE);
    const outcomes: boolean[] = [];
    const server = await listen((socket) => {
      outcomes.push(readIntoSharedBuffer(socket, shared, () => {}));
      outcomes.push(readIntoSharedBuffer(socket, shared, () => {})); // already switched
      socket.destroy();
      outcomes.push(readIntoSharedBuffer(socket, shared, () => {}));
    });
    try {
      const client = await connect(server.port);
      client.on('error', () => {});
      await waitFor(() => outcomes.length === 3);
      assert.deepEqual(outcomes, [true, false, false]);
      client.destroy();
      // A socket that has data waiting in its Readable buffer keeps its stream path.
      const echo = await listen((socket) => socket.end('pending'));
      const c2 = net.connect(echo.port, '127.0.0.1');
      try {
        await once(c2, 'readable');
        assert.ok(c2.readableLength > 0);
        assert.equal(
          readIntoSharedBuffer(c2, shared, () => {}),
          false,
        );
        assert.equal(c2.read().toString(), 'pending');
      } finally {
        c2.destroy();
        await echo.close();
      }
    } finally {
      await server.close();
    }
  });
});

async function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The engine on both read paths: the shared buffer (default) and 'data' events (`sharedReads: false`,
 * which is also what a Node without the internals gets).
 */
for (const sharedReads of [true, false]) {
  describe(`engine reads (sharedReads: ${sharedReads})`, () => {
    async function serve(onRequest: EngineHooks['onRequest']) {
      const engine = createEngine(
        {
          limits: DEFAULT_LIMITS,
          timeouts: DEFAULT_TIMEOUTS,
          maxConnections: 100,
          maxRequestsPerConnection: 1000,
          sharedReads,
        },
        { onRequest },
      );
      return listen((socket) => engine.handleSocket(socket));
    }

    it('keeps request bodies intact when their reader is slower than other connections', async () => {
      // Bodies read only after other connections' reads went through the (shared) buffer: views of it
      // instead of copies would show up as other clients' bytes.
      const server = await serve((req, res) => {
        const parts: Buffer[] = [];
        setTimeout(() => {
          req.body!.on('data', (chunk: Buffer) => parts.push(chunk));
          req.body!.on('end', () => res.end(Buffer.concat(parts)));
        }, 30);
      });
      try {
        const bodies = [0, 1, 2, 3].map((i) => Buffer.alloc(3000 + i * 7000, 'abcd'[i]!));
        const clients = await Promise.all(bodies.map(() => connect(server.port)));
        const results = clients.map((c) => readToEnd(c));
        clients.forEach((c, i) => {
          const body = bodies[i]!;
          // Two pipelined requests, the second chunked, written in one go.
          c.write(
            `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n` +
              body.toString('latin1') +
              `POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
              `${body.length.toString(16)}\r\n${body.toString('latin1')}\r\n0\r\n\r\n`,
          );
        });
        for (let i = 0; i < clients.length; i++) {
          const responses = parseResponses(await results[i]!);
          assert.equal(responses.length, 2);
          for (const r of responses) assert.ok(r.body.equals(bodies[i]!), `body ${i} intact`);
        }
      } finally {
        await server.close();
      }
    });

    it('serves a socket the fast path cannot take (another socket class) through its data events', async () => {
      // Stands in for any socket readIntoSharedBuffer refuses (TLS, a Node without the internals).
      class OtherSocket extends net.Socket {}
      const engine = createEngine(
        {
          limits: DEFAULT_LIMITS,
          timeouts: DEFAULT_TIMEOUTS,
          maxConnections: 10,
          maxRequestsPerConnection: 10,
          sharedReads,
        },
        { onRequest: (req, res) => res.end('hello ' + req.path) },
      );
      let refused: boolean | null = null;
      const server = await listen((socket) => {
        Object.setPrototypeOf(socket, OtherSocket.prototype);
        refused = !readIntoSharedBuffer(socket, Buffer.alloc(16), () => {});
        engine.handleSocket(socket);
      });
      try {
        const client = await connect(server.port);
        const received = readToEnd(client);
        client.end('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
        const responses = parseResponses(await received);
        assert.equal(refused, true);
        assert.deepEqual(
          responses.map((r) => r.body.toString()),
          ['hello /a', 'hello /b'],
        );
      } finally {
        await server.close();
      }
    });

    it('answers pipelined requests split across reads, in order, and the FIN after them', async () => {
      const server = await serve((req, res) => res.end(req.path));
      try {
        const client = await connect(server.port);
        const received = readToEnd(client);
        const bytes = Buffer.from('GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n');
        for (const cut of [5, 20, 40]) {
          client.write(bytes.subarray(0, cut));
          await new Promise((resolve) => setTimeout(resolve, 10));
          client.write(bytes.subarray(cut));
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
        client.end();
        const responses = parseResponses(await received);
        assert.deepEqual(
          responses.map((r) => r.body.toString()),
          ['/one', '/two', '/one', '/two', '/one', '/two'],
        );
      } finally {
        await server.close();
      }
    });
  });
}

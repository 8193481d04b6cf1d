/**
 * `sendPrebuilt(head, body, onReleased)` over a real socket: the release callback (what the shared cache
 * unpins an extent with) runs exactly once whether the bytes are written, held behind an earlier pipelined
 * response and written later, or dropped because the client went away.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createEngine, DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from './engine.ts';
import type { Request, Response } from './types.ts';

const BODY = Buffer.alloc(4 * 1024 * 1024, 0x62); // larger than a socket buffer: the write stays queued
const HEAD = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n`, 'latin1');

describe('sendPrebuilt onReleased', () => {
  let server: net.Server;
  let port = 0;
  const released: Record<string, number> = {};
  const sockets: net.Socket[] = [];
  const slow: Array<() => void> = [];

  before(async () => {
    const engine = createEngine(
      {
        limits: DEFAULT_LIMITS,
        timeouts: DEFAULT_TIMEOUTS,
        maxConnections: 100,
        maxRequestsPerConnection: 100,
      },
      {
        onRequest(req: Request, res: Response) {
          if (req.path === '/slow') {
            slow.push(() => res.end('slow'));
            return;
          }
          const name = req.path.slice(1);
          released[name] ??= 0;
          res.sendPrebuilt(HEAD, BODY, () => {
            released[name]!++;
          });
        },
      },
    );
    server = net.createServer((socket) => {
      sockets.push(socket);
      engine.handleSocket(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const until = async (check: () => boolean) => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  };

  it('runs once after the body was written', async () => {
    const socket = net.connect(port, '127.0.0.1');
    let received = 0;
    socket.on('data', (chunk) => {
      received += chunk.length;
    });
    socket.write('GET /written HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => received >= HEAD.length + BODY.length);
    await until(() => released.written === 1);
    assert.equal(released.written, 1);
    socket.destroy();
  });

  it('runs once when the client goes away before reading the body', async () => {
    const socket = net.connect(port, '127.0.0.1');
    socket.pause(); // reads nothing: the 4 MiB stay queued on the server's side
    socket.write('GET /dropped HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => released.dropped !== undefined);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(released.dropped, 0, 'not released while the socket still holds the bytes');
    socket.destroy();
    await until(() => released.dropped === 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(released.dropped, 1);
  });

  it('runs once for bytes held behind a pipelined response: when written, or when the client goes', async () => {
    for (const mode of ['held-written', 'held-dropped']) {
      const socket = net.connect(port, '127.0.0.1');
      let received = 0;
      socket.on('data', (chunk) => {
        received += chunk.length;
      });
      socket.write(`GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /${mode} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await until(() => released[mode] !== undefined && slow.length > 0);
      assert.equal(released[mode], 0, 'held: not released yet');
      if (mode === 'held-written') {
        slow.shift()!();
        await until(() => received >= HEAD.length + BODY.length);
      } else {
        slow.shift();
        socket.destroy();
      }
      await until(() => released[mode] === 1);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(released[mode], 1, mode);
      socket.destroy();
    }
  });
});

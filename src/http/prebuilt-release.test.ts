/**
 * `sendPrebuilt(head, body, onReleased)` over a real socket: the release callback (what the shared cache
 * unpins an extent with) runs exactly once whether the bytes are written, held behind an earlier pipelined
 * response and written later, or dropped because the client went away.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createEngine, DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from './engine.ts';
import type { BodyStream, EncodedOutput, Request, Response } from './types.ts';

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
          const release = () => {
            released[name]!++;
          };
          // endLent: the same guarantee for a body the engine frames itself (a shared-cache staging block).
          if (name.startsWith('lent-')) res.endLent!(BODY, release);
          else res.sendPrebuilt(HEAD, BODY, release);
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

  for (const prefix of ['', 'lent-']) {
    it(`runs once after the body was written${prefix === '' ? '' : ' (endLent)'}`, async () => {
      const name = `${prefix}written`;
      const socket = net.connect(port, '127.0.0.1');
      let received = 0;
      socket.on('data', (chunk) => {
        received += chunk.length;
      });
      socket.write(`GET /${name} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await until(() => received >= HEAD.length + BODY.length);
      await until(() => released[name] === 1);
      assert.equal(released[name], 1);
      socket.destroy();
    });

    it(`runs once when the client goes away before reading the body${prefix === '' ? '' : ' (endLent)'}`, async () => {
      const name = `${prefix}dropped`;
      const socket = net.connect(port, '127.0.0.1');
      socket.pause(); // reads nothing: the 4 MiB stay queued on the server's side
      socket.write(`GET /${name} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await until(() => released[name] !== undefined);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(released[name], 0, 'not released while the socket still holds the bytes');
      socket.destroy();
      await until(() => released[name] === 1);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(released[name], 1);
    });
  }

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

describe('endLent through a body encoder', () => {
  /** Serve one request whose handler lends `lent` behind `encoder`; the body received and the releases. */
  async function serve(encoder: (output: EncodedOutput) => Buffer | BodyStream) {
    const lent = Buffer.alloc(100_000, 0x62);
    let releases = 0;
    const engine = createEngine(
      {
        limits: DEFAULT_LIMITS,
        timeouts: DEFAULT_TIMEOUTS,
        maxConnections: 10,
        maxRequestsPerConnection: 10,
      },
      {
        onRequest(_req: Request, res: Response) {
          res.setBodyEncoder!({ start: (_q, _r, _whole, output) => encoder(output) });
          res.endLent!(lent, () => {
            releases++;
            lent.fill(0x78); // reused at once: what leaves must not read it any more
          });
        },
      },
    );
    const server = net.createServer((socket) => engine.handleSocket(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await new Promise((resolve) => socket.on('close', resolve));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const data = Buffer.concat(chunks);
    return { body: data.subarray(data.indexOf('\r\n\r\n') + 4), releases };
  }

  it('an encoded whole body goes instead, and the lent bytes are released once', async () => {
    const { body, releases } = await serve(() => Buffer.from('encoded'));
    assert.equal(body.toString(), 'encoded');
    assert.equal(releases, 1);
  });

  it('a streaming encoder reads a copy of its own, later; the lent bytes are released once', async () => {
    const { body, releases } = await serve((output) => {
      const parts: Buffer[] = [];
      return {
        write: (chunk) => parts.push(chunk) > 0,
        end: () => setTimeout(() => output.finish(Buffer.concat(parts)), 20),
        onDrain: () => {},
      } as BodyStream;
    });
    assert.equal(releases, 1);
    assert.ok(body.length > 0 && body.every((byte) => byte === 0x62), 'the bytes lent, not what reused them');
  });
});

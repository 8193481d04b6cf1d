/**
 * `Engine.handOver(next)`, what a reload does in each worker: open connections go to the new engine
 * between two requests (idle ones at once, busy ones when their response is done), each request runs
 * start to end under the hooks it was dispatched to, and no connection is closed.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createEngine, DEFAULT_LIMITS, DEFAULT_TIMEOUTS, type Engine } from '../src/http/engine.ts';

interface Logged {
  engine: string;
  path: string;
}

/** An engine that answers `<name> <path>`; /slow after 300 ms. Every finished response is logged. */
function engine(name: string, done: Logged[]): Engine {
  return createEngine(
    {
      limits: DEFAULT_LIMITS,
      timeouts: DEFAULT_TIMEOUTS,
      maxConnections: 100,
      maxRequestsPerConnection: 100,
    },
    {
      onRequest(req, res) {
        const answer = () => res.end(`${name} ${req.path}`);
        if (req.path === '/slow') setTimeout(answer, 300);
        else answer();
      },
      onResponseDone: (req) => done.push({ engine: name, path: req.path }),
    },
  );
}

/** A keep-alive client: one request at a time, responses framed by Content-Length. */
class KeepAlive {
  readonly socket: net.Socket;
  private buffer = '';
  private waiting: ((text: string) => void) | null = null;
  closed = false;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      const end = this.buffer.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(this.buffer)?.[1] ?? -1);
      if (end === -1 || length < 0 || this.buffer.length < end + 4 + length) return;
      const whole = this.buffer.slice(0, end + 4 + length);
      this.buffer = this.buffer.slice(end + 4 + length);
      this.waiting?.(whole);
    });
    this.socket.on('close', () => (this.closed = true));
  }

  get(path: string): Promise<string> {
    return new Promise((resolve) => {
      this.waiting = (whole) => {
        assert.doesNotMatch(whole, /connection: close/i, 'the connection stays open');
        resolve(whole.slice(whole.indexOf('\r\n\r\n') + 4));
      };
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    });
  }
}

describe('engine hand-over', () => {
  const done: Logged[] = [];
  let a: Engine;
  let b: Engine;
  let current: Engine;
  let server: net.Server;
  let port: number;
  before(async () => {
    a = engine('A', done);
    b = engine('B', done);
    current = a;
    server = net.createServer((socket) => current.handleSocket(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    server.close();
    await b.drain(1000);
  });

  it('idle connections move at once, a busy one after its response; none is closed', async () => {
    const idle = new KeepAlive(port);
    const busy = new KeepAlive(port);
    assert.equal(await idle.get('/one'), 'A /one');
    assert.equal(await busy.get('/one'), 'A /one');
    const slow = busy.get('/slow');
    await new Promise((resolve) => setTimeout(resolve, 50));
    current = b;
    const handedOver = a.handOver(b, 5000);
    // The idle connection's next request is the new engine's.
    assert.equal(await idle.get('/two'), 'B /two');
    // The request in flight finishes under the engine it started with, and its connection stays open.
    assert.equal(await slow, 'A /slow');
    assert.equal(await busy.get('/two'), 'B /two');
    // A new connection goes to the new engine (the listener's choice), and the old one is left empty.
    assert.equal(await new KeepAlive(port).get('/three'), 'B /three');
    await handedOver;
    assert.equal(a.connectionCount, 0);
    assert.equal(b.connectionCount, 3);
    assert.equal(idle.closed || busy.closed, false);
    assert.deepEqual(
      done.filter((d) => d.path === '/slow' || d.path === '/two'),
      [
        { engine: 'B', path: '/two' },
        { engine: 'A', path: '/slow' },
        { engine: 'B', path: '/two' },
      ],
    );
    idle.socket.destroy();
    busy.socket.destroy();
  });
});

/**
 * TLS with several worker threads: every worker serves the TLS listener, and a session ticket issued by
 * one worker resumes on any other (the ticket keys are made once by the primary and shared).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { createTestCa, type TestCa } from './helpers/certs.ts';

function handshake(
  port: number,
  ca: string,
  session?: Buffer,
): Promise<{ reused: boolean; session: Buffer }> {
  return new Promise((resolve, reject) => {
    let reused = false;
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', session }, () => {
      reused = socket.isSessionReused();
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    let ticket: Buffer | undefined;
    socket.on('session', (s: Buffer) => {
      ticket = s;
    });
    socket.on('data', () => {});
    socket.on('error', reject);
    socket.on('close', () => resolve({ reused, session: ticket ?? session! }));
  });
}

describe('TLS with worker threads', () => {
  let ca: TestCa;
  let server: RunningServer;

  before(async () => {
    setLogSink(() => {});
    ca = createTestCa();
    const cert = ca.issue('workers', ['localhost']);
    server = await startServer({
      config: {
        plugins: [],
        server: { workers: 2, listen: [{ port: 0, tls: true }] },
        tls: { cert: cert.cert, key: cert.key },
        admin: { enabled: false },
      },
    });
  });

  after(async () => {
    await server?.close();
    ca?.cleanup();
    setLogSink(null);
  });

  it('resumes a session on whichever worker takes the connection', async () => {
    const port = Number(new URL(server.url).port);
    assert.match(server.url, /^https:/);
    const first = await handshake(port, ca.caPem);
    assert.equal(first.reused, false);
    // The kernel spreads connections over both workers: a dozen resumptions land on each of them.
    for (let i = 0; i < 12; i++) {
      const again = await handshake(port, ca.caPem, first.session);
      assert.equal(again.reused, true, `resumption ${i}`);
    }
  });
});

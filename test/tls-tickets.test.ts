/**
 * Session ticket keys that rotate (src/tls/tickets.ts), over real TLS connections: a ticket resumes on
 * another server holding the same seed (another worker), still resumes one rotation later (and is
 * replaced by a fresh one), and no longer two rotations later. The clock is the hook the keys take, not
 * sleeps. TLS 1.2 and 1.3 both.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { TicketKeys } from '../src/tls/tickets.ts';
import { createTestCa, type TestCa } from './helpers/certs.ts';

const HOUR = 3_600_000;

interface Outcome {
  reused: boolean;
  /** The newest session the client got (the one it came with when the server sent none). */
  session: Buffer;
}

function connect(port: number, ca: string, version: tls.SecureVersion, session?: Buffer): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let reused = false;
    let latest: Buffer | undefined;
    const socket = tls.connect(
      { host: '127.0.0.1', port, ca, servername: 'localhost', session, maxVersion: version },
      () => {
        reused = socket.isSessionReused();
      },
    );
    socket.on('session', (s: Buffer) => {
      latest = s;
    });
    socket.on('data', () => {});
    socket.on('error', reject);
    // TLS 1.3 hands tickets over as 'session' events; TLS 1.2 puts a renewed ticket in the session.
    socket.on('end', () => {
      latest ??= socket.getSession();
    });
    socket.on('close', () => resolve({ reused, session: latest ?? session! }));
  });
}

describe('TLS session ticket key rotation', () => {
  let ca: TestCa;
  let cert: { cert: string; key: string };
  const servers: tls.Server[] = [];
  let clock = 100 * HOUR + 1;
  const now = () => clock;

  /** A TLS server whose contexts take their ticket keys from `keys`, as a worker's listener does. */
  async function serve(keys: TicketKeys): Promise<number> {
    const context = tls.createSecureContext({ ...cert, ticketKeys: keys.currentKey() });
    keys.install(context);
    const server = tls.createServer({ SNICallback: (_name, done) => done(null, context), ...cert }, (s) =>
      s.end('ok'),
    );
    const own = (server as tls.Server & { _sharedCreds?: tls.SecureContext })._sharedCreds;
    assert.ok(own !== undefined && keys.install(own), 'this Node has the ticket key callback');
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as net.AddressInfo).port;
  }

  before(() => {
    ca = createTestCa();
    const issued = ca.issue('tickets', ['localhost']);
    cert = { cert: fs.readFileSync(issued.cert, 'latin1'), key: fs.readFileSync(issued.key, 'latin1') };
  });

  after(() => {
    for (const server of servers) server.close();
    ca?.cleanup();
  });

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${version}: resumes across servers sharing the seed, one rotation later, not two`, async () => {
      clock = 100 * HOUR + 1;
      const seed = randomBytes(48);
      // Two "workers": separate key objects and contexts from the same seed.
      const a = await serve(new TicketKeys(seed, 12 * HOUR, now));
      const b = await serve(new TicketKeys(seed, 12 * HOUR, now));
      const other = await serve(new TicketKeys(randomBytes(48), 12 * HOUR, now));

      const first = await connect(a, ca.caPem, version);
      assert.equal(first.reused, false);
      const onB = await connect(b, ca.caPem, version, first.session);
      assert.equal(onB.reused, true, 'a ticket from one worker resumes on another');
      assert.equal((await connect(other, ca.caPem, version, first.session)).reused, false, 'another seed');

      clock += 12 * HOUR; // the next period: the key rotated, the previous one still decrypts
      const afterRotation = await connect(a, ca.caPem, version, first.session);
      assert.equal(afterRotation.reused, true, 'a ticket under the previous key resumes');
      assert.notDeepEqual(
        afterRotation.session,
        first.session,
        'and is replaced by a ticket under the new key',
      );

      clock += 12 * HOUR; // two rotations after the first ticket: its key is gone
      assert.equal((await connect(b, ca.caPem, version, first.session)).reused, false, 'too old a key');
      assert.equal(
        (await connect(b, ca.caPem, version, afterRotation.session)).reused,
        true,
        'the renewed ticket resumes',
      );
    });
  }

  it('never rotates with a period of 0', async () => {
    clock = 5;
    const port = await serve(new TicketKeys(randomBytes(48), 0, now));
    const first = await connect(port, ca.caPem, 'TLSv1.3');
    clock += 1000 * HOUR;
    assert.equal((await connect(port, ca.caPem, 'TLSv1.3', first.session)).reused, true);
  });

  it('answers an unknown or forged ticket with a full handshake, not a crash', () => {
    const keys = new TicketKeys(randomBytes(48), HOUR, now);
    const verdict = keys.callback(randomBytes(16), randomBytes(16), false);
    assert.equal(verdict[0], 0);
    assert.ok(verdict.slice(1).every((b) => Buffer.isBuffer(b) && b.length === 16));
  });
});

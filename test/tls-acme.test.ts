/**
 * Automatic certificates end to end against Pebble (Let's Encrypt's test CA, Debian package `pebble`) on
 * loopback: the first start orders a certificate over HTTP-01 (Pebble fetches the challenge from our plain
 * listener) and serves it without a restart; a restart finds it on disk and orders nothing; a certificate
 * close to expiry is renewed and served to new connections.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { createTestCa, type TestCa } from './helpers/certs.ts';
import { freePort, hasCommand, type Pebble, served, startPebble } from './helpers/pebble.ts';

describe('ACME with Pebble', {
  skip: hasCommand('pebble') ? false : 'pebble is not installed (apt-get install pebble)',
}, () => {
  let ca: TestCa;
  let pebble: Pebble;
  let storage: string;
  let httpPort: number;
  let directory: string;
  let server: RunningServer | null = null;
  const logs: string[] = [];

  const start = (renewBefore = '720h') =>
    startServer({
      inProcess: true,
      config: {
        plugins: [],
        server: {
          listen: [
            { port: 0, tls: true },
            { port: httpPort, redirect_https: true },
          ],
        },
        tls: {
          acme: {
            names: ['localhost'],
            directory,
            directory_ca: path.join(ca.dir, 'ca.pem'),
            storage,
            agree_to_terms: true,
            email: 'ops@example.com',
            renew_before: renewBefore,
          },
        },
      },
    });

  before(async () => {
    setLogSink((line) => logs.push(line));
    ca = createTestCa();
    storage = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-acme-'));
    httpPort = await freePort();
    pebble = await startPebble(ca, { httpPort, tlsPort: await freePort() });
    directory = pebble.directory;
  });

  after(async () => {
    await server?.close();
    pebble?.stop();
    ca?.cleanup();
    fs.rmSync(storage, { recursive: true, force: true });
    setLogSink(null);
  });

  it('orders a certificate over HTTP-01 at the first start and serves it without a restart', async () => {
    server = await start();
    assert.equal(await server.acme!.check(), 'obtained', logs.join('\n'));
    const cert = await served(Number(new URL(server.url).port));
    assert.match(cert.issuer, /Pebble/);
    assert.match(cert.names, /DNS:localhost/);
    assert.ok(fs.existsSync(path.join(storage, 'localhost.pem')));
    assert.ok(fs.existsSync(path.join(storage, 'account.key')));
    assert.deepEqual(fs.readdirSync(path.join(storage, 'challenges')), [], 'challenge files removed');
  });

  it('finds the stored certificate after a restart and orders nothing', async () => {
    const before = await served(Number(new URL(server!.url).port));
    await server!.close();
    server = await start();
    assert.equal(await server.acme!.check(), 'fresh');
    assert.equal((await served(Number(new URL(server.url).port))).serial, before.serial);
  });

  it('renews a certificate that expires within renew_before, served to new connections', async () => {
    const before = await served(Number(new URL(server!.url).port));
    await server!.close();
    // Pebble's certificates live ~5 years; a renewal window longer than that makes this one due.
    server = await start('50000h');
    assert.equal(await server.acme!.check(), 'obtained', logs.join('\n'));
    const after = await served(Number(new URL(server.url).port));
    assert.notEqual(after.serial, before.serial);
  });
});

/**
 * Automatic certificates end to end against Pebble (Let's Encrypt's test CA, Debian package `pebble`) on
 * loopback: the first start orders a certificate over HTTP-01 (Pebble fetches the challenge from our plain
 * listener) and serves it without a restart; a restart finds it on disk and orders nothing; a certificate
 * close to expiry is renewed and served to new connections.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { createTestCa, type TestCa } from './helpers/certs.ts';

function hasPebble(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v pebble'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Issuer CN and serial of the certificate served for `localhost`. */
function served(port: number): Promise<{ issuer: string; serial: string; names: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false },
      () => {
        const cert = socket.getPeerCertificate();
        socket.destroy();
        resolve({
          issuer: String(cert.issuer.CN),
          serial: cert.serialNumber,
          names: cert.subjectaltname ?? '',
        });
      },
    );
    socket.on('error', reject);
  });
}

describe('ACME with Pebble', {
  skip: hasPebble() ? false : 'pebble is not installed (apt-get install pebble)',
}, () => {
  let ca: TestCa;
  let pebble: ChildProcess;
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
    const pebbleCert = ca.issue('pebble', ['localhost']);
    storage = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-acme-'));
    httpPort = await freePort();
    const acmePort = await freePort();
    const managementPort = await freePort();
    fs.writeFileSync(
      path.join(ca.dir, 'pebble.json'),
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${managementPort}`,
          certificate: pebbleCert.cert,
          privateKey: pebbleCert.key,
          httpPort,
          tlsPort: await freePort(),
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    pebble = spawn('pebble', ['-config', path.join(ca.dir, 'pebble.json'), '-strict=false'], {
      env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
      stdio: 'ignore',
    });
    directory = `https://localhost:${acmePort}/dir`;
    await waitForPort(acmePort, 10_000);
  });

  after(async () => {
    await server?.close();
    pebble?.kill();
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

/**
 * ACME challenges other than HTTP-01. TLS-ALPN-01: the TLS listener presents a pending challenge's
 * certificate only to a handshake that offers exactly `acme-tls/1` for that name, from one worker or
 * two, and sends no HTTP after it (real sockets, no CA); a certificate is obtained end to end against
 * Pebble, which validates on our TLS port. DNS-01: the hook command publishes the TXT record in
 * pebble-challtestsrv, Pebble's DNS server (a certificate with a wildcard name); a failing or missing hook
 * fails the order with an error naming `tls.acme.dns_hook`, and the server goes on serving. Pebble tests
 * skip without `pebble`, the DNS-01 one also without `pebble-challtestsrv`.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import '../src/main/builtins.ts';
import { resolveConfig } from '../src/server/config.ts';
import type { ConfigError } from '../src/server/config-errors.ts';
import { setLogSink } from '../src/server/logger.ts';
import { tlsAlpnChallengeFile } from '../src/tls/acme.ts';
import { createTestCa, type TestCa, type TestCert } from './helpers/certs.ts';
import {
  type ChallTestSrv,
  freePort,
  hasCommand,
  type Pebble,
  served,
  startChallTestSrv,
  startPebble,
} from './helpers/pebble.ts';

/** Label of each test certificate by fingerprint, so that a handshake can say which one it got. */
const issued = new Map<string, string>();
function remember(label: string, cert: TestCert): TestCert {
  issued.set(new X509Certificate(fs.readFileSync(cert.cert)).fingerprint256, label);
  return cert;
}

const pebbleSkip = hasCommand('pebble') ? false : 'pebble is not installed (apt-get install pebble)';

/** A handshake with `alpn` offered: the protocol chosen and the certificate's CN, or the error code. */
function handshake(
  port: number,
  servername: string,
  alpn: string[] | undefined,
  maxVersion: tls.SecureVersion = 'TLSv1.3',
): Promise<{ protocol: string | false | null; cn: string } | { error: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect(
      {
        host: '127.0.0.1',
        port,
        servername,
        rejectUnauthorized: false,
        maxVersion,
        ...(alpn === undefined ? {} : { ALPNProtocols: alpn }),
      },
      () => {
        const cn = issued.get(socket.getPeerCertificate().fingerprint256) ?? 'unknown';
        resolve({ protocol: socket.alpnProtocol, cn });
        socket.destroy();
      },
    );
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

describe('[tls.acme] challenge keys', () => {
  const acme = (more: Record<string, unknown>) =>
    resolveConfig({ plugins: [], tls: { acme: { names: ['example.com'], storage: '/tmp/acme', ...more } } });
  const errors = async (more: Record<string, unknown>): Promise<string[]> => {
    try {
      await acme(more);
    } catch (error) {
      return (error as ConfigError).lines();
    }
    return [];
  };

  it('defaults to HTTP-01 only, with a 2 minute DNS propagation wait', async () => {
    const { config } = await acme({});
    const table = (config.tls as { acme: Record<string, unknown> }).acme;
    assert.deepEqual(table.challenges, ['http-01']);
    assert.equal(table.dns_propagation_timeout, 120_000);
    assert.equal(table.dns_hook, undefined);
  });

  it('names the key: unknown challenge, dns-01 without a hook, a wildcard without dns-01, a bad hook', async () => {
    assert.match(
      (await errors({ challenges: ['http-01', 'tls-sni-01'] })).join('\n'),
      /tls\.acme\.challenges\[1\]: expected "http-01", "tls-alpn-01" or "dns-01"/,
    );
    assert.match(
      (await errors({ challenges: ['dns-01'] })).join('\n'),
      /tls\.acme\.dns_hook: DNS-01 needs a hook command/,
    );
    assert.match(
      (await errors({ names: ['*.example.com'] })).join('\n'),
      /tls\.acme\.names: wildcard names can only be validated with DNS-01/,
    );
    assert.match(
      (await errors({ challenges: ['dns-01'], dns_hook: '/bin/hook' })).join('\n'),
      /tls\.acme\.dns_hook: expected a command as an array/,
    );
    assert.match(
      (await errors({ challenges: ['http-01', 'http-01'] })).join('\n'),
      /tls\.acme\.challenges: expected each challenge type once/,
    );
    const { config } = await acme({
      names: ['*.example.com'],
      challenges: ['dns-01', 'http-01'],
      dns_hook: ['/bin/hook', 'x'],
    });
    assert.deepEqual((config.tls as { acme: { names: string[] } }).acme.names, ['*.example.com']);
  });
});

for (const workers of [1, 2]) {
  describe(`TLS-ALPN-01 answers of the TLS listener (${workers} worker${workers === 1 ? '' : 's'})`, () => {
    let ca: TestCa;
    let storage: string;
    let server: RunningServer;
    let port: number;
    let notAcme: http.Server;
    const logs: string[] = [];

    before(async () => {
      setLogSink((_level, line) => logs.push(line));
      ca = createTestCa();
      storage = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-alpn-'));
      const normal = remember('normal', ca.issue('normal', ['localhost']));
      const challenge = remember('challenge', ca.issue('challenge', ['localhost']));
      fs.mkdirSync(path.join(storage, 'challenges'), { recursive: true });
      fs.writeFileSync(
        tlsAlpnChallengeFile(storage, 'localhost'),
        fs.readFileSync(challenge.key, 'latin1') + fs.readFileSync(challenge.cert, 'latin1'),
      );
      notAcme = http.createServer((_req, res) => res.writeHead(404).end());
      await new Promise<void>((resolve) => notAcme.listen(0, '127.0.0.1', resolve));
      server = await startServer({
        inProcess: workers === 1,
        config: {
          plugins: [],
          server: { workers, listen: [{ port: 0, tls: true, http2: true }] },
          admin: { enabled: false },
          tls: {
            cert: normal.cert,
            key: normal.key,
            acme: {
              names: ['localhost'],
              challenges: ['tls-alpn-01'],
              // Not an ACME server: the manager's order fails at once, the listener's answers are tested.
              directory: `http://127.0.0.1:${(notAcme.address() as AddressInfo).port}/dir`,
              storage,
            },
          },
        },
      });
      port = Number(new URL(server.url).port);
      // Let the first order fail while the fake directory still answers (a refused connection is retried).
      assert.equal(await server.acme!.check(), 'failed');
    });

    after(async () => {
      await server?.close();
      notAcme?.close();
      ca?.cleanup();
      fs.rmSync(storage, { recursive: true, force: true });
      setLogSink(null);
    });

    it('presents the challenge certificate and acme-tls/1 to a validation handshake for that name', async () => {
      // With two workers the kernel spreads the connections: each worker reads the challenge file itself.
      for (let i = 0; i < 6 * workers; i++) {
        assert.deepEqual(await handshake(port, 'localhost', ['acme-tls/1']), {
          protocol: 'acme-tls/1',
          cn: 'challenge',
        });
      }
    });

    it('gives normal clients the normal certificate and protocols, even beside acme-tls/1', async () => {
      assert.deepEqual(await handshake(port, 'localhost', ['h2', 'acme-tls/1']), {
        protocol: 'h2',
        cn: 'normal',
      });
      assert.deepEqual(await handshake(port, 'localhost', ['http/1.1']), {
        protocol: 'http/1.1',
        cn: 'normal',
      });
      assert.deepEqual(await handshake(port, 'localhost', undefined), { protocol: false, cn: 'normal' });
    });

    it('declines acme-tls/1 for a name without a pending challenge, and in a TLS 1.2 handshake', async () => {
      assert.deepEqual(await handshake(port, 'other.test', ['acme-tls/1']), {
        error: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL',
      });
      // TLS 1.2 picks the certificate before ALPN: acme-tls/1 is refused rather than sent with the normal one.
      assert.deepEqual(await handshake(port, 'localhost', ['acme-tls/1'], 'TLSv1.2'), {
        error: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL',
      });
      assert.deepEqual(await handshake(port, 'localhost', ['h2'], 'TLSv1.2'), {
        protocol: 'h2',
        cn: 'normal',
      });
    });
  });
}

describe('TLS-ALPN-01 with Pebble', { skip: pebbleSkip }, () => {
  let ca: TestCa;
  let pebble: Pebble;
  let storage: string;
  let server: RunningServer | null = null;
  const logs: string[] = [];

  before(async () => {
    setLogSink((_level, line) => logs.push(line));
    ca = createTestCa();
    storage = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-acme-alpn-'));
    const tlsPort = await freePort();
    // Nothing listens on the HTTP-01 port: only TLS-ALPN-01 can succeed.
    pebble = await startPebble(ca, { httpPort: await freePort(), tlsPort });
    server = await startServer({
      inProcess: true,
      config: {
        plugins: [],
        server: { listen: [{ port: tlsPort, tls: true }] },
        tls: {
          acme: {
            names: ['localhost'],
            challenges: ['tls-alpn-01'],
            directory: pebble.directory,
            directory_ca: path.join(ca.dir, 'ca.pem'),
            storage,
            agree_to_terms: true,
          },
        },
      },
    });
  });

  after(async () => {
    await server?.close();
    pebble?.stop();
    ca?.cleanup();
    fs.rmSync(storage, { recursive: true, force: true });
    setLogSink(null);
  });

  it('obtains a certificate validated on the TLS port, then serves it', async () => {
    assert.equal(await server!.acme!.check(), 'obtained', logs.join('\n'));
    const cert = await served(Number(new URL(server!.url).port));
    assert.match(cert.issuer, /Pebble/);
    assert.match(cert.names, /DNS:localhost/);
    assert.deepEqual(fs.readdirSync(path.join(storage, 'challenges')), [], 'challenge certificate removed');
  });
});

/** A DNS-01 hook for pebble-challtestsrv's management API; "fail" as first argument exits 1. */
const HOOK = `
const [management, step, name, value] = process.argv.slice(2);
if (management === 'fail') { console.error('the DNS provider refused the token'); process.exit(1); }
const body = step === 'present' ? { host: name, value } : { host: name };
const res = await fetch(management + (step === 'present' ? '/set-txt' : '/clear-txt'), {
  method: 'POST',
  body: JSON.stringify(body),
});
if (!res.ok) { console.error('challtestsrv answered ' + res.status); process.exit(1); }
`;

describe('DNS-01 with Pebble and pebble-challtestsrv', {
  skip:
    pebbleSkip ||
    (hasCommand('pebble-challtestsrv')
      ? false
      : 'pebble-challtestsrv is not installed (Debian package pebble)'),
}, () => {
  let ca: TestCa;
  let pebble: Pebble;
  let dns: ChallTestSrv;
  let storage: string;
  let hook: string;
  let server: RunningServer | null = null;
  const logs: string[] = [];

  const start = (dnsHook: string[], names: string[]) =>
    startServer({
      inProcess: true,
      config: {
        plugins: [],
        server: { listen: [{ port: 0, tls: true }] },
        tls: {
          acme: {
            names,
            challenges: ['dns-01'],
            dns_hook: dnsHook,
            dns_resolvers: [dns.dns],
            // With an existing account and no contact, acme-client sends an empty update Pebble refuses.
            email: 'ops@example.com',
            directory: pebble.directory,
            directory_ca: path.join(ca.dir, 'ca.pem'),
            storage,
            agree_to_terms: true,
          },
        },
      },
    });

  before(async () => {
    setLogSink((_level, line) => logs.push(line));
    ca = createTestCa();
    storage = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-acme-dns-'));
    hook = path.join(storage, 'hook.mjs');
    fs.writeFileSync(hook, HOOK);
    dns = await startChallTestSrv();
    pebble = await startPebble(ca, {
      httpPort: await freePort(),
      tlsPort: await freePort(),
      dnsServer: dns.dns,
    });
  });

  after(async () => {
    await server?.close();
    pebble?.stop();
    dns?.stop();
    ca?.cleanup();
    fs.rmSync(storage, { recursive: true, force: true });
    setLogSink(null);
  });

  it('a failing hook fails the order with an error naming tls.acme.dns_hook; the server keeps serving', async () => {
    server = await start([process.execPath, hook, 'fail'], ['tamarin.test']);
    assert.equal(await server.acme!.check(), 'failed');
    const line = logs.find((l) => l.includes('order for tamarin.test failed'));
    assert.ok(line, logs.join('\n'));
    assert.match(
      line,
      /tls\.acme\.dns_hook .* present _acme-challenge\.tamarin\.test\. exited with status 1/,
    );
    assert.match(line, /the DNS provider refused the token/);
    // The listener is up (no certificate yet: the handshake is refused, the process is alive).
    assert.ok('error' in (await handshake(Number(new URL(server.url).port), 'tamarin.test', ['http/1.1'])));
    await server.close();
    server = await start([path.join(storage, 'no-such-hook')], ['tamarin.test']);
    assert.equal(await server.acme!.check(), 'failed');
    assert.ok(
      logs.some((l) => /tls\.acme\.dns_hook .*no-such-hook.* could not be started \(ENOENT\)/.test(l)),
      logs.join('\n'),
    );
    await server.close();
    server = null;
  });

  it('obtains a certificate with a wildcard name through the hook, then serves it', async () => {
    server = await start([process.execPath, hook, dns.management], ['tamarin.test', '*.www.tamarin.test']);
    assert.equal(await server.acme!.check(), 'obtained', logs.join('\n'));
    const port = Number(new URL(server.url).port);
    const cert = await served(port, 'a.www.tamarin.test');
    assert.match(cert.issuer, /Pebble/);
    assert.match(cert.names, /DNS:\*\.www\.tamarin\.test/);
    assert.equal((await served(port, 'tamarin.test')).serial, cert.serial);
  });
});

/**
 * Pebble (Let's Encrypt's test CA, Debian package `pebble`) and its DNS test server `pebble-challtestsrv`
 * (same package) on loopback, for the ACME tests; both are looked up on PATH so that tests skip without.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import type { TestCa } from './certs.ts';

/** Whether `command` is on PATH. */
export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A port nothing listens on right now (for servers that must be told their port in advance). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolve once something accepts TCP connections on `port` (give up after `ms`). */
export async function waitForPort(port: number, ms: number): Promise<void> {
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

export interface Pebble {
  /** The ACME directory URL. */
  readonly directory: string;
  stop(): void;
}

/**
 * Start Pebble; it validates HTTP-01 on `httpPort` and TLS-ALPN-01 on `tlsPort` of the names' addresses,
 * and asks `dnsServer` ("127.0.0.1:port") for every DNS lookup when given.
 */
export async function startPebble(
  ca: TestCa,
  ports: { httpPort: number; tlsPort: number; dnsServer?: string },
): Promise<Pebble> {
  const pebbleCert = ca.issue('pebble', ['localhost']);
  const acmePort = await freePort();
  const config = path.join(ca.dir, `pebble-${acmePort}.json`);
  fs.writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${await freePort()}`,
        certificate: pebbleCert.cert,
        privateKey: pebbleCert.key,
        httpPort: ports.httpPort,
        tlsPort: ports.tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const args = ['-config', config, '-strict=false'];
  if (ports.dnsServer !== undefined) args.push('-dnsserver', ports.dnsServer);
  const pebble: ChildProcess = spawn('pebble', args, {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: 'ignore',
  });
  await waitForPort(acmePort, 10_000);
  return { directory: `https://localhost:${acmePort}/dir`, stop: () => pebble.kill() };
}

export interface ChallTestSrv {
  /** DNS server address for Pebble's `-dnsserver` and `dns_resolvers`. */
  readonly dns: string;
  /** Base URL of the management API (`/set-txt`, `/clear-txt`). */
  readonly management: string;
  stop(): void;
}

/** Start pebble-challtestsrv as a DNS server only (every A lookup answers 127.0.0.1). */
export async function startChallTestSrv(): Promise<ChallTestSrv> {
  const dnsPort = await freePort();
  const managementPort = await freePort();
  const child = spawn(
    'pebble-challtestsrv',
    [
      '-dns01',
      `127.0.0.1:${dnsPort}`,
      '-management',
      `127.0.0.1:${managementPort}`,
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-defaultIPv6',
      '',
    ],
    { stdio: 'ignore' },
  );
  await waitForPort(managementPort, 10_000);
  return {
    dns: `127.0.0.1:${dnsPort}`,
    management: `http://127.0.0.1:${managementPort}`,
    stop: () => child.kill(),
  };
}

/** Issuer CN, serial and names of the certificate a TLS listener on `port` serves for `servername`. */
export function served(
  port: number,
  servername = 'localhost',
): Promise<{ issuer: string; serial: string; names: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve({
        issuer: String(cert.issuer.CN),
        serial: cert.serialNumber,
        names: cert.subjectaltname ?? '',
      });
    });
    socket.on('error', reject);
  });
}

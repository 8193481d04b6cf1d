/**
 * Automatic certificates (ACME, RFC 8555) through the `acme-client` package, with HTTP-01, TLS-ALPN-01
 * (RFC 8737) or DNS-01 challenges, the first of `challenges` the CA offers for each name.
 *
 * The primary runs one manager: it keeps an account key and the certificate in `storage`, orders a
 * certificate when there is none or when it expires within `renew_before`, and checks again every
 * `check_interval` (a failed order is retried then). Challenge answers are files in
 * `storage/challenges/`, so that every worker can answer: HTTP-01 tokens, which the plain listeners serve
 * at `/.well-known/acme-challenge/`, and TLS-ALPN-01 certificates (`<name>.tls-alpn-01.pem`), which the
 * TLS listeners present to a handshake that offers only ALPN `acme-tls/1` for that name. DNS-01 goes
 * through the operator's hook command (acme-dns.ts). A new certificate is written next to the key
 * (temporary file, then rename) and the workers load it through `reloadCertificates` (the file watcher
 * would find it too). Nothing is dropped meanwhile.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import type { Authorization } from 'acme-client';
import type { EngineHooks } from '../http/engine.ts';
import type { Request, Response } from '../http/types.ts';
import { dnsRecordName, runDnsHook, waitForTxt } from './acme-dns.ts';
import { acmeFiles } from './certificates.ts';
import type { AcmeConfig } from './options.ts';

/** RFC 8555 §8.3: the path HTTP-01 answers are fetched from. */
export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
/** RFC 8555 §8.1: tokens are base64url. */
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** Where pending challenge answers are kept. */
export function challengeDir(storage: string): string {
  return path.join(storage, 'challenges');
}

/**
 * Hooks that answer `/.well-known/acme-challenge/<token>` from `storage/challenges/` (404 when unknown)
 * and pass everything else on.
 */
export function challengeHooks(hooks: EngineHooks, storage: string): EngineHooks {
  const dir = challengeDir(storage);
  const onRequest = hooks.onRequest;
  return {
    ...hooks,
    onRequest(req: Request, res: Response): void {
      if (!req.path.startsWith(ACME_CHALLENGE_PREFIX)) {
        onRequest(req, res);
        return;
      }
      const token = req.path.slice(ACME_CHALLENGE_PREFIX.length);
      let answer: string | null = null;
      if (TOKEN.test(token)) {
        try {
          answer = fs.readFileSync(path.join(dir, token), 'latin1');
        } catch {
          answer = null;
        }
      }
      res.setHeader('Content-Type', 'text/plain');
      res.statusCode = answer === null ? 404 : 200;
      res.end(answer ?? 'no such ACME challenge\n');
    },
  };
}

/** RFC 8737 §6.2: the ALPN protocol of TLS-ALPN-01 validation handshakes. */
export const ACME_TLS_ALPN = 'acme-tls/1';
/** A name a TLS-ALPN-01 file may be kept under (SNI names are host names; nothing else reaches the disk). */
const HOST = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

/** The key and self-signed certificate (PEM) answering TLS-ALPN-01 for `name`. */
export function tlsAlpnChallengeFile(storage: string, name: string): string {
  return path.join(challengeDir(storage), `${name}.tls-alpn-01.pem`);
}

type SniCallback = (servername: string, done: (err: Error | null, ctx?: tls.SecureContext) => void) => void;

/**
 * A TLS listener's SNI and ALPN options. With ACME (`storage` set) a handshake that offers exactly
 * `acme-tls/1` for a name with a pending TLS-ALPN-01 challenge gets that challenge's certificate and
 * `acme-tls/1`; every other handshake gets the certificate `sniCallback` picks and one of `protocols`.
 *
 * OpenSSL runs the ALPN callback before the certificate (SNI) callback in TLS 1.3, which is what CAs
 * validate with; in a TLS 1.2 handshake the certificate is chosen first, so `acme-tls/1` is then declined
 * rather than negotiated beside a normal certificate. Both callbacks are called with the TLS socket as
 * `this` (feature-detected: without it, no challenge is ever answered).
 */
export function alpnOptions(
  sniCallback: SniCallback,
  protocols: readonly string[],
  storage: string | null,
): Pick<tls.TlsOptions, 'SNICallback' | 'ALPNCallback' | 'ALPNProtocols'> {
  if (storage === null) return { SNICallback: sniCallback, ALPNProtocols: [...protocols] };
  const challenge = new WeakMap<object, tls.SecureContext>();
  const certificateChosen = new WeakSet<object>();
  return {
    ALPNCallback(this: unknown, { servername, protocols: offered }) {
      if (offered.length === 1 && offered[0] === ACME_TLS_ALPN) {
        const socket = typeof this === 'object' && this !== null ? this : null;
        const name = (servername ?? '').toLowerCase();
        if (socket === null || certificateChosen.has(socket) || !HOST.test(name)) return undefined;
        let pem: Buffer;
        try {
          pem = fs.readFileSync(tlsAlpnChallengeFile(storage, name));
        } catch {
          return undefined; // nothing pending for this name
        }
        challenge.set(socket, tls.createSecureContext({ cert: pem, key: pem }));
        return ACME_TLS_ALPN;
      }
      return protocols.find((p) => offered.includes(p));
    },
    SNICallback(this: unknown, servername, done) {
      const socket = typeof this === 'object' && this !== null ? this : null;
      const ctx = socket === null ? undefined : challenge.get(socket);
      if (ctx !== undefined) {
        done(null, ctx);
        return;
      }
      if (socket !== null) certificateChosen.add(socket);
      sniCallback(servername, done);
    },
  };
}

/** Something that logs. */
interface Log {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A running manager. */
export interface AcmeManager {
  /** Check now: order a certificate if there is none or it expires soon. Resolves when done. */
  check(): Promise<'fresh' | 'obtained' | 'failed'>;
  stop(): void;
}

function writeAtomic(file: string, data: string, mode: number): void {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}

/**
 * Start the manager for `config` (paths resolved against `baseDir`). `onCertificate` runs after a new
 * certificate is on disk (reload the workers' certificates there).
 */
export async function startAcme(
  config: AcmeConfig,
  baseDir: string,
  log: Log,
  onCertificate: () => Promise<unknown>,
): Promise<AcmeManager> {
  const acme = (await import('acme-client')).default;
  const storage = path.resolve(baseDir, config.storage);
  fs.mkdirSync(challengeDir(storage), { recursive: true, mode: 0o700 });
  const files = acmeFiles(storage, config.names);
  if (config.directory_ca !== undefined) {
    // The ACME server's own certificate comes from a private CA (Pebble in tests, an internal CA).
    acme.axios.defaults.httpsAgent = new https.Agent({
      ca: fs.readFileSync(path.resolve(baseDir, config.directory_ca)),
    });
  }
  const accountFile = path.join(storage, 'account.key');
  let accountKey: Buffer;
  try {
    accountKey = fs.readFileSync(accountFile);
  } catch {
    accountKey = await acme.crypto.createPrivateEcdsaKey();
    writeAtomic(accountFile, accountKey.toString('latin1'), 0o600);
  }
  const client = new acme.Client({ directoryUrl: config.directory, accountKey });

  const expiresAt = (): number | null => {
    try {
      return new Date(new X509Certificate(fs.readFileSync(files.cert)).validTo).getTime();
    } catch {
      return null;
    }
  };

  const dnsOptions = {
    command: config.dns_hook ?? [],
    propagationTimeout: config.dns_propagation_timeout,
    resolvers: config.dns_resolvers ?? [],
  };
  /** Publish the answer to one challenge where the CA will look for it. */
  const answer = async (
    authz: Authorization,
    challenge: { type: string; token: string },
    keyAuthorization: string,
  ): Promise<void> => {
    const domain = authz.identifier.value;
    if (challenge.type === 'http-01') {
      if (!TOKEN.test(challenge.token)) throw new Error('the CA sent a token that is not base64url');
      writeAtomic(path.join(challengeDir(storage), challenge.token), keyAuthorization, 0o644);
    } else if (challenge.type === 'tls-alpn-01') {
      if (!HOST.test(domain)) throw new Error(`TLS-ALPN-01 for "${domain}", which is not a host name`);
      const [key, cert] = await acme.crypto.createAlpnCertificate(
        authz,
        keyAuthorization,
        await acme.crypto.createPrivateEcdsaKey(),
      );
      writeAtomic(
        tlsAlpnChallengeFile(storage, domain),
        `${key.toString('latin1')}${cert.toString('latin1')}`,
        0o600,
      );
    } else if (challenge.type === 'dns-01') {
      const name = dnsRecordName(domain);
      await runDnsHook(dnsOptions.command, 'present', name, keyAuthorization);
      log.info(`acme: DNS-01 record ${name} published by the hook, waiting until it can be seen`);
      await waitForTxt(name, keyAuthorization, dnsOptions);
    } else {
      throw new Error(`the CA offered no challenge of tls.acme.challenges (got ${challenge.type})`);
    }
  };
  /** Remove a published answer; a failure is only logged (the order's outcome is known by then). */
  const withdraw = async (
    domain: string,
    challenge: { type: string; token: string },
    keyAuthorization: string,
  ): Promise<void> => {
    try {
      if (challenge.type === 'http-01' && TOKEN.test(challenge.token))
        fs.rmSync(path.join(challengeDir(storage), challenge.token), { force: true });
      else if (challenge.type === 'tls-alpn-01' && HOST.test(domain))
        fs.rmSync(tlsAlpnChallengeFile(storage, domain), { force: true });
      else if (challenge.type === 'dns-01')
        await runDnsHook(dnsOptions.command, 'cleanup', dnsRecordName(domain), keyAuthorization);
    } catch (error) {
      log.warn(`acme: ${(error as Error).message}`);
    }
  };

  let running: Promise<'fresh' | 'obtained' | 'failed'> | null = null;
  const order = async (): Promise<'fresh' | 'obtained' | 'failed'> => {
    const expiry = expiresAt();
    if (expiry !== null && expiry - Date.now() > config.renew_before) return 'fresh';
    log.info(`acme: ordering a certificate for ${config.names.join(', ')} from ${config.directory}`);
    try {
      const [key, csr] = await acme.crypto.createCsr({
        commonName: config.names[0]!,
        altNames: config.names,
      });
      const cert = await client.auto({
        csr,
        ...(config.email === undefined ? {} : { email: config.email }),
        termsOfServiceAgreed: config.agree_to_terms,
        challengePriority: [...config.challenges],
        // The client's own pre-check asks from here, which says nothing about the CA's view (DNS-01 has
        // its own propagation wait in the create step).
        skipChallengeVerification: true,
        challengeCreateFn: answer,
        challengeRemoveFn: (authz, challenge, keyAuthorization) =>
          withdraw(authz.identifier.value, challenge, keyAuthorization),
      });
      // Key first: a watcher that sees a new key with the old certificate only waits for the next check.
      writeAtomic(files.key, key.toString('latin1'), 0o600);
      writeAtomic(files.cert, cert, 0o644);
      log.info(`acme: certificate for ${config.names.join(', ')} stored in ${files.cert}`);
      await onCertificate();
      return 'obtained';
    } catch (error) {
      log.error(
        `acme: order for ${config.names.join(', ')} failed (tried again in ${Math.round(config.check_interval / 60_000)} min): ` +
          (error as Error).message,
      );
      return 'failed';
    }
  };
  const check = (): Promise<'fresh' | 'obtained' | 'failed'> => {
    running ??= order().finally(() => {
      running = null;
    });
    return running;
  };
  const timer = setInterval(() => void check(), Math.max(1000, config.check_interval));
  timer.unref();
  void check();
  return {
    check,
    stop: () => clearInterval(timer),
  };
}

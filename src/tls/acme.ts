/**
 * Automatic certificates (ACME, RFC 8555) with HTTP-01 challenges, through the `acme-client` package.
 *
 * The primary runs one manager: it keeps an account key and the certificate in `storage`, orders a
 * certificate when there is none or when it expires within `renew_before`, and checks again every
 * `check_interval` (a failed order is retried then). Challenge answers are files in
 * `storage/challenges/`, which every worker's plain listeners serve at `/.well-known/acme-challenge/`;
 * a new certificate is written next to the key (temporary file, then rename) and the workers load it
 * through `reloadCertificates` (the file watcher would find it too). Nothing is dropped meanwhile.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { EngineHooks } from '../http/engine.ts';
import type { Request, Response } from '../http/types.ts';
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

/** Something that logs. */
interface Log {
  info(message: string): void;
  warn(message: string): void;
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
        challengePriority: ['http-01'],
        // The client's own pre-check fetches port 80 from here, which says nothing about the CA's view.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          if (!TOKEN.test(challenge.token)) throw new Error('the CA sent a token that is not base64url');
          writeAtomic(path.join(challengeDir(storage), challenge.token), keyAuthorization, 0o644);
        },
        challengeRemoveFn: async (_authz, challenge) => {
          if (TOKEN.test(challenge.token))
            fs.rmSync(path.join(challengeDir(storage), challenge.token), { force: true });
        },
      });
      // Key first: a watcher that sees a new key with the old certificate only waits for the next check.
      writeAtomic(files.key, key.toString('latin1'), 0o600);
      writeAtomic(files.cert, cert, 0o644);
      log.info(`acme: certificate for ${config.names.join(', ')} stored in ${files.cert}`);
      await onCertificate();
      return 'obtained';
    } catch (error) {
      log.warn(`acme: order for ${config.names.join(', ')} failed: ${(error as Error).message}`);
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

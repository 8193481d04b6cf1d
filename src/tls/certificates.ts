/**
 * The certificates of `[tls]`: read and checked at start-up (readable PEM, within its validity dates, key
 * matching the certificate: a config error names the file and what is wrong), turned into one OpenSSL
 * context each, looked up by SNI name (exact, then `*.parent`, then the default), and reloaded when their
 * files change or on request. A reload swaps the contexts new handshakes get; connections already open keep
 * theirs, so nothing is dropped. A reload that finds a broken file keeps the previous certificate.
 */
import { createPrivateKey, constants as cryptoConstants, randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { ConfigError, type ConfigIssue } from '../server/config-errors.ts';
import type { TlsConfig } from './options.ts';
import { TicketKeys } from './tickets.ts';

/** One certificate as served. */
export interface LoadedCertificate {
  /** Config key it came from, e.g. `tls.certificates[1]` (for messages). */
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** SNI names it answers (lower-case, `*.domain` for wildcards). */
  readonly names: readonly string[];
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly fingerprint256: string;
  readonly context: tls.SecureContext;
  /** mtime + size + inode of both files when read: a change means a reload. */
  readonly stamp: string;
  /** The PEM texts (the default certificate also becomes the listener's own context). */
  readonly pem: { readonly cert: string; readonly key: string };
}

/** A certificate's public summary (admin API). */
export interface CertificateSummary {
  names: readonly string[];
  certFile: string;
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
  isDefault: boolean;
}

/** Thrown for one broken certificate/key pair: `file` and a short reason. */
class CertificateProblem extends Error {
  readonly file: string;
  readonly field: 'cert' | 'key';
  constructor(field: 'cert' | 'key', file: string, reason: string) {
    super(`"${file}": ${reason}`);
    this.field = field;
    this.file = file;
  }
}

interface Source {
  readonly key: string;
  readonly cert: string;
  readonly keyPath: string;
  readonly names: readonly string[] | undefined;
  /** Files that may not exist yet (ACME's, before the first certificate): missing is not an error. */
  readonly optional?: boolean;
}

/** Context options every certificate shares (protocol versions, ciphers, ticket keys). */
export interface ContextSettings {
  readonly minVersion: tls.SecureVersion;
  readonly ciphers: string;
  /**
   * Session ticket keys, derived from a seed shared by every worker (a ticket from one worker resumes on
   * another) and rotated on a schedule; null when tickets are off.
   */
  readonly tickets: TicketKeys | null;
  readonly sessionTickets: boolean;
}

function stampOf(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch {
    return 'missing';
  }
}

function readPem(field: 'cert' | 'key', file: string): string {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new CertificateProblem(
      field,
      file,
      `cannot read the ${field === 'cert' ? 'certificate' : 'key'}: ${reason}`,
    );
  }
}

/** DNS names of the subjectAltName, else the subject's CN. */
function namesOf(x509: X509Certificate): string[] {
  const names: string[] = [];
  for (const part of (x509.subjectAltName ?? '').split(',')) {
    const item = part.trim();
    if (item.startsWith('DNS:')) names.push(item.slice(4).toLowerCase());
  }
  if (names.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1];
    if (cn !== undefined) names.push(cn.trim().toLowerCase());
  }
  return names;
}

/** Read, check and build one certificate. Throws `CertificateProblem`. */
function load(source: Source, settings: ContextSettings, now: number): LoadedCertificate {
  const stamp = `${stampOf(source.cert)}|${stampOf(source.keyPath)}`;
  const certPem = readPem('cert', source.cert);
  const keyPem = readPem('key', source.keyPath);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (error) {
    throw new CertificateProblem('cert', source.cert, `not a PEM certificate (${(error as Error).message})`);
  }
  const notBefore = new Date(x509.validFrom);
  const notAfter = new Date(x509.validTo);
  if (now > notAfter.getTime())
    throw new CertificateProblem('cert', source.cert, `the certificate expired on ${notAfter.toISOString()}`);
  if (now < notBefore.getTime())
    throw new CertificateProblem(
      'cert',
      source.cert,
      `the certificate is not valid before ${notBefore.toISOString()}`,
    );
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch (error) {
    throw new CertificateProblem(
      'key',
      source.keyPath,
      `not a PEM private key (${(error as Error).message})`,
    );
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new CertificateProblem(
      'key',
      source.keyPath,
      `the key does not match the certificate "${source.cert}"`,
    );
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({
      cert: certPem,
      key: keyPem,
      ...secureOptions(settings),
    });
  } catch (error) {
    throw new CertificateProblem('cert', source.cert, (error as Error).message);
  }
  settings.tickets?.install(context);
  return {
    key: source.key,
    certFile: source.cert,
    keyFile: source.keyPath,
    names: source.names ?? namesOf(x509),
    subject: x509.subject.replace(/\n/g, ', '),
    issuer: x509.issuer.replace(/\n/g, ', '),
    notBefore,
    notAfter,
    fingerprint256: x509.fingerprint256,
    context,
    stamp,
    pem: { cert: certPem, key: keyPem },
  };
}

/** Options every context of these settings gets (the listener's own context too). */
export function secureOptions(settings: ContextSettings): tls.SecureContextOptions {
  const options: tls.SecureContextOptions = {
    minVersion: settings.minVersion,
    ciphers: settings.ciphers,
    honorCipherOrder: true,
  };
  if (!settings.sessionTickets) options.secureOptions = cryptoConstants.SSL_OP_NO_TICKET;
  // The key a context keeps where the rotating callback cannot be installed (see tickets.ts).
  else if (settings.tickets !== null) options.ticketKeys = settings.tickets.currentKey();
  return options;
}

/** The certificate sources of a `[tls]` table, paths resolved against `baseDir`. */
function sourcesOf(config: TlsConfig, baseDir: string): Source[] {
  const sources: Source[] = [];
  if (config.cert !== undefined && config.key !== undefined) {
    sources.push({
      key: 'tls',
      cert: path.resolve(baseDir, config.cert),
      keyPath: path.resolve(baseDir, config.key),
      names: undefined,
    });
  }
  if (config.acme !== undefined) {
    const files = acmeFiles(path.resolve(baseDir, config.acme.storage), config.acme.names);
    sources.push({
      key: 'tls.acme',
      cert: files.cert,
      keyPath: files.key,
      names: config.acme.names,
      optional: true,
    });
  }
  config.certificates.forEach((c, i) => {
    sources.push({
      key: `tls.certificates[${i}]`,
      cert: path.resolve(baseDir, c.cert),
      keyPath: path.resolve(baseDir, c.key),
      names: c.names,
    });
  });
  return sources;
}

/** Where ACME keeps the certificate for `names` in `storage`. */
export function acmeFiles(storage: string, names: readonly string[]): { cert: string; key: string } {
  const base = path.join(storage, names[0]!.replace(/[^a-z0-9_.-]/gi, '_'));
  return { cert: `${base}.pem`, key: `${base}.key` };
}

/** Settings shared by every context of a `[tls]` table. */
export function contextSettings(
  config: TlsConfig,
  ticketSeed: Uint8Array | null,
  now: () => number = Date.now,
): ContextSettings {
  return {
    minVersion: config.min_version,
    ciphers: config.ciphers,
    tickets: config.session_tickets
      ? new TicketKeys(ticketSeed ?? randomBytes(48), config.ticket_key_rotation, now)
      : null,
    sessionTickets: config.session_tickets,
  };
}

/** Result of a reload. */
export interface ReloadResult {
  /** Certificates whose files changed and were loaded. */
  reloaded: string[];
  /** Certificates whose files changed but could not be loaded (the previous one stays in use). */
  errors: string[];
}

/** The certificates of one TLS configuration, looked up by SNI name. */
export class CertificateStore {
  private readonly sources: readonly Source[];
  private readonly settings: ContextSettings;
  /** Per source; null while an optional source has no files yet. */
  private loaded: Array<LoadedCertificate | null>;
  private exact = new Map<string, LoadedCertificate>();
  private wildcard = new Map<string, LoadedCertificate>();
  private watcher: NodeJS.Timeout | null = null;
  private readonly changeListeners: Array<() => void> = [];
  /** The settings contexts are built with. */
  readonly contextSettings: ContextSettings;

  /** Load every certificate; a broken one is a `ConfigError` naming its key and file. */
  constructor(config: TlsConfig, baseDir: string, settings: ContextSettings, now = Date.now()) {
    this.sources = sourcesOf(config, baseDir);
    this.settings = settings;
    this.contextSettings = settings;
    if (this.sources.length === 0) {
      throw new ConfigError([
        { path: 'tls', message: 'a TLS listener needs a certificate: set tls.cert and tls.key (PEM files)' },
      ]);
    }
    const issues: ConfigIssue[] = [];
    const loaded: Array<LoadedCertificate | null> = [];
    for (const source of this.sources) {
      if (source.optional === true && stampOf(source.cert) === 'missing') {
        loaded.push(null);
        continue;
      }
      try {
        loaded.push(load(source, settings, now));
      } catch (error) {
        if (!(error instanceof CertificateProblem)) throw error;
        issues.push({ path: `${source.key}.${error.field}`, message: error.message });
      }
    }
    if (issues.length > 0) throw new ConfigError(issues);
    this.loaded = loaded;
    this.index();
  }

  /** The certificate for `servername` (SNI): exact name, then its wildcard, then the default (null: none yet). */
  lookup(servername: string | undefined): LoadedCertificate | null {
    if (servername !== undefined && servername !== '') {
      const name = servername.toLowerCase();
      const hit = this.exact.get(name);
      if (hit !== undefined) return hit;
      const dot = name.indexOf('.');
      if (dot > 0) {
        const wild = this.wildcard.get(name.slice(dot + 1));
        if (wild !== undefined) return wild;
      }
    }
    return this.defaultCertificate;
  }

  /** The default certificate (clients without SNI or with an unknown name): the first one loaded. */
  get defaultCertificate(): LoadedCertificate | null {
    for (const c of this.loaded) if (c !== null) return c;
    return null;
  }

  /** Options for a listener's own context: the default certificate (if any yet) with the shared settings. */
  listenerOptions(): tls.SecureContextOptions {
    const d = this.defaultCertificate;
    const options = secureOptions(this.settings);
    return d === null ? options : { ...options, cert: d.pem.cert, key: d.pem.key };
  }

  /** Run `listener` after every reload that changed a certificate. */
  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  /** For `tls.Server`'s `SNICallback`: reads the current contexts, so a reload applies to the next handshake. */
  readonly sniCallback = (
    servername: string,
    done: (err: Error | null, ctx?: tls.SecureContext) => void,
  ): void => {
    const cert = this.lookup(servername);
    if (cert === null) done(new Error('no certificate yet (ACME order pending)'));
    else done(null, cert.context);
  };

  /**
   * Load again every certificate whose files changed (all of them with `force`). A file that fails keeps
   * the previous certificate in use and is reported in `errors`.
   */
  reload(force = false, now = Date.now()): ReloadResult {
    const result: ReloadResult = { reloaded: [], errors: [] };
    const next = this.loaded.slice();
    this.sources.forEach((source, i) => {
      const current = next[i] ?? null;
      const stamp = `${stampOf(source.cert)}|${stampOf(source.keyPath)}`;
      if (current === null && source.optional === true && stampOf(source.cert) === 'missing') return;
      if (!force && current !== null && stamp === current.stamp) return;
      try {
        next[i] = load(source, this.settings, now);
        result.reloaded.push(source.cert);
      } catch (error) {
        result.errors.push(`${source.key}: ${(error as Error).message}`);
      }
    });
    if (result.reloaded.length > 0) {
      this.loaded = next;
      this.index();
      for (const listener of this.changeListeners) listener();
    }
    return result;
  }

  /** Check the files every `intervalMs` (a stat per file) and reload what changed; `report` hears of it. */
  watch(intervalMs: number, report: (result: ReloadResult) => void): void {
    this.unwatch();
    if (intervalMs <= 0) return;
    this.watcher = setInterval(() => {
      const result = this.reload(false);
      if (result.reloaded.length > 0 || result.errors.length > 0) report(result);
    }, intervalMs);
    this.watcher.unref();
  }

  unwatch(): void {
    if (this.watcher !== null) clearInterval(this.watcher);
    this.watcher = null;
  }

  /** Names and validity of every certificate, the default first. */
  summaries(): CertificateSummary[] {
    const d = this.defaultCertificate;
    return this.loaded
      .filter((c) => c !== null)
      .map((c) => ({
        names: c.names,
        certFile: c.certFile,
        subject: c.subject,
        issuer: c.issuer,
        notBefore: c.notBefore.toISOString(),
        notAfter: c.notAfter.toISOString(),
        fingerprint256: c.fingerprint256,
        isDefault: c === d,
      }));
  }

  private index(): void {
    const exact = new Map<string, LoadedCertificate>();
    const wildcard = new Map<string, LoadedCertificate>();
    for (const cert of this.loaded) {
      if (cert === null) continue;
      for (const name of cert.names) {
        // The first certificate naming a host wins, as with nginx's first matching server block.
        if (name.startsWith('*.')) {
          if (!wildcard.has(name.slice(2))) wildcard.set(name.slice(2), cert);
        } else if (!exact.has(name)) exact.set(name, cert);
      }
    }
    this.exact = exact;
    this.wildcard = wildcard;
  }
}

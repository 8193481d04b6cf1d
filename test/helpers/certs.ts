/**
 * Test certificates made at test time with Debian's `openssl` (nothing private is committed): a small CA
 * and leaf certificates it signs, each for a list of DNS names, written to a temporary directory.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A certificate and its key on disk. */
export interface TestCert {
  readonly cert: string;
  readonly key: string;
}

/** A test CA: its certificate (PEM text, for clients' `ca`) and a way to issue leaf certificates. */
export interface TestCa {
  readonly dir: string;
  readonly caPem: string;
  /** Issue a certificate for `names` (the first is the CN), valid for `days`. */
  issue(label: string, names: readonly string[], days?: number): TestCert;
  /** A new key that matches no certificate. */
  strayKey(label: string): string;
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Make a CA in a new temporary directory. */
export function createTestCa(): TestCa {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-certs-'));
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=Tamarin Test CA',
    ],
    dir,
  );
  return {
    dir,
    caPem: fs.readFileSync(path.join(dir, 'ca.pem'), 'latin1'),
    issue(label, names, days = 2) {
      const key = `${label}.key`;
      const cert = `${label}.pem`;
      fs.writeFileSync(
        path.join(dir, `${label}.ext`),
        `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`,
      );
      openssl(
        [
          'req',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          key,
          '-out',
          `${label}.csr`,
          '-subj',
          `/CN=${names[0]}`,
        ],
        dir,
      );
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${label}.csr`,
          '-CA',
          'ca.pem',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-out',
          cert,
          '-days',
          String(days),
          '-extfile',
          `${label}.ext`,
        ],
        dir,
      );
      return { cert: path.join(dir, cert), key: path.join(dir, key) };
    },
    strayKey(label) {
      openssl(
        ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${label}.key`],
        dir,
      );
      return path.join(dir, `${label}.key`);
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

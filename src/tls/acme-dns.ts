/**
 * DNS-01 (RFC 8555 §8.4) through a hook command, as lego's `exec` provider does: Tamarin knows no DNS
 * provider's API, the operator's command does. It runs as `<dns_hook...> present <name> <value>` to publish
 * the TXT record `<name>` (`_acme-challenge.<domain>.`) with `<value>`, and `... cleanup <name> <value>`
 * to remove it. After `present`, the record is looked up until it shows the value (or the propagation
 * timeout passes), so that the CA is not asked to validate before the record can be seen.
 */
import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';

/** How long one hook run may take before it is killed (a hung provider API must not stall orders). */
const HOOK_TIMEOUT_MS = 120_000;
/** Pause between two propagation lookups. */
const POLL_MS = 2000;

export interface DnsHookOptions {
  /** Command and its first arguments (`tls.acme.dns_hook`). */
  readonly command: readonly string[];
  /** Give up waiting for the record after this long; 0: do not wait. */
  readonly propagationTimeout: number;
  /** Servers asked during the wait (`ip` or `ip:port`); empty: the system's. */
  readonly resolvers: readonly string[];
  /** Pause between lookups (tests shorten it). */
  readonly pollMs?: number;
}

/** The TXT record name a DNS-01 answer for `domain` goes in (fully qualified). */
export function dnsRecordName(domain: string): string {
  return `_acme-challenge.${domain.replace(/^\*\./, '')}.`;
}

/** Run the hook once; rejects with an error naming `tls.acme.dns_hook`, the step and what the command said. */
export function runDnsHook(
  command: readonly string[],
  step: 'present' | 'cleanup',
  name: string,
  value: string,
): Promise<void> {
  const [file, ...args] = command;
  return new Promise((resolve, reject) => {
    execFile(
      file!,
      [...args, step, name, value],
      { timeout: HOOK_TIMEOUT_MS, maxBuffer: 1 << 20, windowsHide: true },
      (error, _stdout, stderr) => {
        if (error === null) {
          resolve();
          return;
        }
        const said = String(stderr).trim().split('\n').slice(-3).join(' / ');
        const e = error as NodeJS.ErrnoException & { killed?: boolean; code?: unknown; signal?: unknown };
        let how: string;
        if (typeof e.code === 'string') how = `could not be started (${e.code})`;
        else if (e.killed === true) how = `was killed after ${HOOK_TIMEOUT_MS / 1000} s`;
        else if (typeof e.code === 'number') how = `exited with status ${e.code}`;
        else how = `ended by ${String(e.signal)}`;
        reject(
          new Error(
            `tls.acme.dns_hook ${JSON.stringify(file)} ${step} ${name} ${how}${said ? `: ${said}` : ''}`,
          ),
        );
      },
    );
  });
}

/** Resolve when `name` has a TXT record `value`; reject once `timeout` passed without it. */
export async function waitForTxt(
  name: string,
  value: string,
  options: DnsHookOptions,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<void> {
  if (options.propagationTimeout <= 0) return;
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  if (options.resolvers.length > 0) resolver.setServers([...options.resolvers]);
  const end = Date.now() + options.propagationTimeout;
  let last = 'not found';
  for (;;) {
    try {
      const records = await resolver.resolveTxt(name.replace(/\.$/, ''));
      if (records.some((chunks) => chunks.join('') === value)) return;
      last = `${records.length} other TXT record(s)`;
    } catch (error) {
      last = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    }
    if (Date.now() >= end) {
      throw new Error(
        `the TXT record ${name} did not show the DNS-01 value within tls.acme.dns_propagation_timeout ` +
          `(last lookup: ${last})`,
      );
    }
    await sleep(options.pollMs ?? POLL_MS);
  }
}

/**
 * The admin listener's command-line flags: `--admin HOST:PORT` moves it (a second instance on one machine
 * needs its own port), `--no-admin` turns it off. Both only write `[admin]` keys of the raw config, so the
 * config file's other admin settings (token, allowed_hosts) still apply.
 */
import net from 'node:net';

/** A bad flag value: the CLI prints it with the usage and exits 2. */
export class AdminFlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminFlagError';
  }
}

const EXPECTED = 'expects HOST:PORT, e.g. 127.0.0.1:9090, [::1]:9090 or 0.0.0.0:0';

/**
 * Parse `HOST:PORT` (an IPv6 host in brackets; `localhost` or an IP address; port 0 to 65535, 0 = any
 * free port). Throws {@link AdminFlagError} naming the flag.
 */
export function parseAdminAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  const hostOk =
    host !== undefined &&
    (match?.[1] !== undefined ? net.isIPv6(host) : net.isIPv4(host) || host === 'localhost');
  if (match === null || !hostOk || port > 65535) {
    throw new AdminFlagError(`option "--admin" ${EXPECTED}; got "${text}"`);
  }
  return { host: host!, port };
}

/**
 * Apply `--admin` / `--no-admin` to the raw config's `[admin]` table (created when missing). Throws
 * {@link AdminFlagError} for a bad address or both flags at once.
 */
export function applyAdminFlags(
  raw: Record<string, unknown>,
  flags: { admin?: string | undefined; 'no-admin'?: boolean | undefined },
): void {
  if (flags.admin === undefined && flags['no-admin'] !== true) return;
  if (flags.admin !== undefined && flags['no-admin'] === true) {
    throw new AdminFlagError('options "--admin" and "--no-admin" contradict each other');
  }
  const current = raw.admin;
  const admin =
    typeof current === 'object' && current !== null && !Array.isArray(current)
      ? (current as Record<string, unknown>)
      : {};
  raw.admin = admin;
  if (flags['no-admin'] === true) {
    admin.enabled = false;
    return;
  }
  const { host, port } = parseAdminAddress(flags.admin!);
  admin.enabled = true;
  admin.host = host;
  admin.port = port;
}

/**
 * Loop protection. Every forwarded request carries our pseudonym in `Via` (RFC 9110 §7.6.3); a request
 * that arrives with it already went through this server (or a sibling with the same pseudonym), so it is
 * answered 508 instead of being forwarded again and again. At start-up, a backend that is this server's
 * own listener is warned about (Monkey's "its own backend" case).
 */
import { networkInterfaces } from 'node:os';

/**
 * Whether a `Via` field value lists `pseudonym` as a received-by entry.
 * Via = #( received-protocol RWS received-by [ RWS comment ] ) (RFC 9110 §7.6.3); comments may contain
 * commas, so the list is split outside parentheses only.
 */
export function viaContains(via: string, pseudonym: string): boolean {
  const lowerVia = via.toLowerCase();
  const wanted = pseudonym.toLowerCase();
  // Fast path: most requests either have no Via or one without our name in it.
  if (!lowerVia.includes(wanted)) return false;
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= lowerVia.length; i++) {
    const c = i < lowerVia.length ? lowerVia.charCodeAt(i) : 44;
    if (c === 40) depth++;
    else if (c === 41 && depth > 0) depth--;
    else if (c === 44 && depth === 0) {
      const parts = lowerVia
        .slice(start, i)
        .trim()
        .split(/[ \t]+/);
      if (parts[1] === wanted) return true;
      start = i + 1;
    }
  }
  return false;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '::ffff:127.0.0.1']);
const ANY = new Set(['0.0.0.0', '::', '']);

/** Addresses of this machine's interfaces. */
function localAddresses(): Set<string> {
  const result = new Set(LOOPBACK);
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) result.add(entry.address);
  }
  return result;
}

/**
 * Whether a backend at `host:port` is the listener `listenHost:listenPort` of this very server: same
 * port, and the same address, both loopback, or a local address when listening on all interfaces.
 */
export function isOwnListener(host: string, port: number, listenHost: string, listenPort: number): boolean {
  if (port !== listenPort || listenPort === 0) return false;
  const h = host.toLowerCase();
  const l = listenHost.toLowerCase();
  if (h === l) return true;
  if (LOOPBACK.has(h) && LOOPBACK.has(l)) return true;
  return ANY.has(l) && localAddresses().has(h);
}

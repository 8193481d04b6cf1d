/**
 * Hop-by-hop fields (RFC 9110 §7.6.1): the ones a proxy or a cache never passes on or stores, and the
 * ones a message names in its `Connection` field.
 */
import type { HeaderList } from '../types.ts';

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1, plus the RFC 2616 §13.5.1 list proxies still honour:
 * Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, Proxy-Authenticate/-Authorization — credentials
 * meant for this proxy are never leaked to a backend).
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Lower-cased field names listed in the `Connection` fields of `headers` (RFC 9110 §7.6.1), or null. */
export function connectionNamed(headers: HeaderList): string[] | null {
  const value = headers.getJoined('connection');
  if (value === undefined) return null;
  // The usual values name no field: answered without splitting (nginx sends keep-alive on every response).
  if (value.length <= 10) {
    const lower = value.toLowerCase();
    if (lower === 'keep-alive' || lower === 'close') return null;
  }
  const names: string[] = [];
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive') names.push(name);
  }
  return names.length > 0 ? names : null;
}

/**
 * `GET /api/config`: the effective configuration as plain JSON, with secrets replaced. A value is a
 * secret when its key says so (token, secret, password, credentials, API keys, cookies, Authorization);
 * URLs lose any user:password part.
 */

/** Keys whose values are never shown. */
const SECRET_KEY = /token|secret|passw(or)?d|credential|authorization|api[_-]?key|cookie|private[_-]?key/i;

export const REDACTED = '[redacted]';

/** A JSON-safe copy of `value` with secrets replaced by `[redacted]`. */
export function redactConfig(value: unknown, key = ''): unknown {
  if (key !== '' && SECRET_KEY.test(key) && value !== undefined && value !== null && value !== '') {
    return REDACTED;
  }
  if (value instanceof RegExp) return value.source;
  if (value instanceof URL) return stripCredentials(value.href);
  if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value))
    return stripCredentials(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  if (typeof value === 'bigint') return String(value);
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (Array.isArray(value)) return value.map((item) => redactConfig(item));
  if (value instanceof Map) return redactConfig(Object.fromEntries(value));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, inner] of Object.entries(value)) {
      const copy = redactConfig(inner, k);
      if (copy !== undefined) out[k] = copy;
    }
    return out;
  }
  return value;
}

function stripCredentials(text: string): string {
  try {
    const url = new URL(text);
    if (url.username === '' && url.password === '') return text;
    url.username = '';
    url.password = '';
    return `${url.href} (credentials ${REDACTED})`;
  } catch {
    return REDACTED;
  }
}

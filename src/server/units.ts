/**
 * Config value types shared by every schema: byte sizes ("256MiB", "64 KiB", 1024) and durations ("5s",
 * "250ms", "1m", 5000). Plugins use these so that every size and duration in the TOML file reads the same.
 */
import net from 'node:net';
import { z } from 'zod';

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "256MiB", "1.5 GB", "512" into bytes; `undefined` when malformed. */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!match) return undefined;
  const unit = SIZE_UNITS[(match[2] || 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.round(Number(match[1]) * unit);
}

/** Parses "5s", "250ms", "1m", "1h" into milliseconds; `undefined` when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(text);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2]!]!);
}

/** A byte size: a non-negative integer (bytes) or a string such as "256MiB". */
export function byteSize() {
  return z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const bytes = parseByteSize(value);
    if (bytes === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a size such as "64KiB" or "256MiB", got "${value}"`,
      });
      return z.NEVER;
    }
    return bytes;
  });
}

/** A duration: a non-negative number of milliseconds or a string such as "5s", "250ms", "1m". */
export function duration() {
  return z.union([z.number().nonnegative(), z.string()]).transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration such as "250ms", "5s" or "1m", got "${value}"`,
      });
      return z.NEVER;
    }
    return ms;
  });
}

/** One DNS label (RFC 1123 §2.1): letters, digits and inner hyphens, at most 63 characters. */
const HOST_NAME = /^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$/i;

/** Whether `value` is an IP address literal (without brackets) or a syntactically valid host name. */
export function isHostOrIp(value: string): boolean {
  return net.isIP(value) !== 0 || (value.length <= 253 && HOST_NAME.test(value));
}

/**
 * An address to listen on: an IP address (`0.0.0.0`, `::`, `127.0.0.1`) or a host name (`localhost`).
 * Anything else (`"not an ip"`, `"[::1]"`, `"host:80"`) is a config error naming the key.
 */
export function listenHost() {
  return z.string({ error: 'expected a host name or IP address' }).min(1).refine(isHostOrIp, {
    error:
      'expected an IP address (e.g. "0.0.0.0", "::", "127.0.0.1") or a host name, without brackets or port',
  });
}

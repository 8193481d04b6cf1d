/**
 * Test helpers for the shared store: records whose body says which key and version it belongs to (so a
 * torn or mixed read is detectable byte by byte), and a fake `Response` that keeps what a hit sent.
 */
import type { EntryRecord } from '../entry.ts';

/** A body of `size` bytes repeating `<key>#<version>|`: every byte is checkable. */
export function patternBody(key: string, version: number, size: number): Buffer {
  const unit = Buffer.from(`${key}#${version}|`, 'latin1');
  const body = Buffer.allocUnsafe(size);
  for (let at = 0; at < size; at += unit.length) unit.copy(body, at, 0, Math.min(unit.length, size - at));
  return body;
}

/** The version a body was built with, or -1 when it is not one `patternBody(key, v, size)` for any v. */
export function bodyVersion(key: string, body: Buffer): number {
  const prefix = `${key}#`;
  const text = body.toString('latin1', 0, Math.min(body.length, prefix.length + 12));
  if (!text.startsWith(prefix)) return -1;
  const end = text.indexOf('|', prefix.length);
  if (end < 0) return body.length < prefix.length + 12 ? bodyVersionShort(key, body) : -1;
  const version = Number(text.slice(prefix.length, end));
  return patternBody(key, version, body.length).equals(body) ? version : -1;
}

function bodyVersionShort(key: string, body: Buffer): number {
  for (let v = 0; v < 1000; v++) if (patternBody(key, v, body.length).equals(body)) return v;
  return -1;
}

/** A record for `key` with a pattern body. */
export function patternRecord(key: string, version: number, size: number, extra: Partial<EntryRecord> = {}) {
  return {
    key,
    path: key,
    host: '',
    status: 200,
    reason: '',
    fields: [
      ['Content-Type', 'text/plain'],
      ['X-Version', String(version)],
    ] as Array<readonly [string, string]>,
    body: patternBody(key, version, size),
    file: null,
    storedAt: 0,
    expiresAt: Number.POSITIVE_INFINITY,
    ...extra,
  } satisfies EntryRecord;
}

/** What a fake response was sent. */
export interface Sent {
  head: Buffer;
  body: Buffer | null;
  release: (() => void) | null;
}

/** A response that records `sendPrebuilt` (enough for `SharedEntry.send`). */
export function fakeResponse(): {
  res: { sendPrebuilt(a: Buffer, b?: Buffer | null, r?: (() => void) | null): void };
  sent: Sent[];
} {
  const sent: Sent[] = [];
  return {
    sent,
    res: {
      sendPrebuilt(a, b, r) {
        sent.push({ head: a, body: b ?? null, release: r ?? null });
      },
    },
  };
}

/** Split a whole answer (head + body in one buffer) at the blank line. */
export function splitAnswer(bytes: Buffer): { head: string; body: Buffer } {
  const end = bytes.indexOf('\r\n\r\n');
  return { head: bytes.toString('latin1', 0, end + 4), body: bytes.subarray(end + 4) };
}

/**
 * Warm restart for proxied responses: unlike static files, their bodies cannot be read back from disk,
 * so they are saved with them. One file per worker beside the static index (`<state_file>.proxy`): a
 * 4-byte big-endian length, a JSON header (each entry's record, timing, directives and where its body
 * is), then the bodies back to back. Written to a temporary name (mode 0600: cached responses may be
 * private to the site) and renamed; a corrupt or foreign file is skipped with a warning (a cold start,
 * never a wrong answer). Entries come back with their original timing, so their age went on while the
 * server was down, and one already expired is not restored.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { StoredField } from '../cache/entry.ts';
import { type CacheDirectives, emptyDirectives } from './cache-control.ts';
import { ProxyEntry } from './proxy-entry.ts';

const MAGIC = 'tamarin-proxy-state';
const VERSION = 1;

interface SavedEntry {
  key: string;
  path: string;
  host: string;
  status: number;
  reason: string;
  fields: StoredField[];
  storedAt: number;
  expiresAt: number;
  base: string;
  target: string;
  requestTime: number;
  responseTime: number;
  initialAgeMs: number;
  lifetimeMs: number;
  directives: Record<string, unknown>;
  vary: string[] | null;
  varyValues: Array<string | null> | null;
  ownFields: number;
  bodyLength: number;
}

/** Save `entries` (hottest first) to `path`. Throws on I/O errors; the caller logs them. */
export function saveProxyEntries(path: string, entries: readonly ProxyEntry[], now: number): number {
  const saved: SavedEntry[] = [];
  const bodies: Buffer[] = [];
  for (const entry of entries) {
    const r = entry.record;
    if (!Number.isFinite(entry.expiresAt) || entry.expiresAt <= now) continue;
    const body = entry.readBody();
    if (body === null) continue;
    saved.push({
      key: r.key,
      path: r.path,
      host: r.host,
      status: r.status,
      reason: r.reason,
      fields: r.fields.map(([n, v]) => [n, v] as [string, string]),
      storedAt: r.storedAt,
      expiresAt: entry.expiresAt,
      base: entry.base,
      target: entry.target,
      requestTime: entry.requestTime,
      responseTime: entry.responseTime,
      initialAgeMs: entry.initialAgeMs,
      lifetimeMs: entry.lifetimeMs,
      directives: { ...entry.directives },
      vary: entry.vary === null ? null : [...entry.vary],
      varyValues: entry.varyValues === null ? null : entry.varyValues.map((v) => v ?? null),
      ownFields: entry.ownFields,
      bodyLength: body.length,
    });
    bodies.push(body);
  }
  const header = Buffer.from(
    JSON.stringify({ magic: MAGIC, version: VERSION, savedAt: now, entries: saved }),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32BE(header.length);
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, Buffer.concat([length, header, ...bodies]), { mode: 0o600 });
  renameSync(temp, path);
  return saved.length;
}

/** The entries saved at `path` (none when it is missing; a warning when it cannot be used). */
export function loadProxyEntries(path: string, now: number, warn: (message: string) => void): ProxyEntry[] {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      warn(`warm restart: cannot read ${path}: ${error}`);
    return [];
  }
  try {
    const headerLength = data.readUInt32BE(0);
    const state = JSON.parse(data.subarray(4, 4 + headerLength).toString()) as {
      magic?: unknown;
      version?: unknown;
      entries?: SavedEntry[];
    };
    if (state.magic !== MAGIC || state.version !== VERSION || !Array.isArray(state.entries)) {
      warn(`warm restart: ${path} is not a proxy state file of this version; ignored`);
      return [];
    }
    const out: ProxyEntry[] = [];
    let offset = 4 + headerLength;
    for (const s of state.entries) {
      const end = offset + s.bodyLength;
      if (!Number.isInteger(s.bodyLength) || end > data.length) throw new Error('truncated bodies');
      // A copy: a view would keep the whole file alive as long as any entry.
      const body = Buffer.from(data.subarray(offset, end));
      offset = end;
      if (s.expiresAt <= now) continue;
      out.push(
        new ProxyEntry(
          {
            key: s.key,
            path: s.path,
            host: s.host,
            status: s.status,
            reason: s.reason,
            fields: s.fields,
            body,
            file: null,
            storedAt: s.storedAt,
            expiresAt: s.expiresAt,
          },
          {
            base: s.base,
            target: s.target,
            requestTime: s.requestTime,
            responseTime: s.responseTime,
            initialAgeMs: s.initialAgeMs,
            lifetimeMs: s.lifetimeMs,
            directives: directivesOf(s.directives),
            vary: s.vary,
            varyValues: s.varyValues === null ? null : s.varyValues.map((v) => v ?? undefined),
            ownFields: s.ownFields,
          },
        ),
      );
    }
    return out;
  } catch (error) {
    warn(`warm restart: ${path} is damaged (${(error as Error).message}); proxied entries start cold`);
    return [];
  }
}

/** Saved directives back into their shape (JSON drops `undefined` and turns Infinity into null). */
export function directivesOf(saved: Record<string, unknown>): CacheDirectives {
  const d = emptyDirectives() as unknown as Record<string, unknown>;
  for (const key of Object.keys(d)) {
    const value = saved[key];
    if (value !== undefined) d[key] = value === null ? (key === 'maxStale' ? Infinity : undefined) : value;
  }
  return d as unknown as CacheDirectives;
}

/**
 * Warm restart (persisting the cache's index across restarts): on shutdown the cache writes its
 * index — keys, header fields, file identities and policy frequencies, never the bodies — to a state file;
 * on start it reads the hottest files back from disk in the background, so a restart does not start cold.
 *
 * The file is JSON (one object, a few hundred bytes per entry), written to a temporary name and renamed,
 * so a crash mid-write leaves the previous state intact. A corrupt file, an unknown version, or an entry
 * whose file changed on disk is skipped with a warning: a stale state can cost a cold start, never a wrong
 * answer, because every reloaded entry is checked against the file's size, mtime and inode first.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FileSource } from '../http/types.ts';
import type { StoredField } from './entry.ts';
import { fileUnchanged } from './freshness.ts';

const VERSION = 1;

/** One saved entry. */
export interface WarmRecord {
  key: string;
  path: string;
  host: string;
  status: number;
  reason: string;
  fields: StoredField[];
  file: FileSource;
  frequency: number;
  storedAt: number;
  /** Epoch ms, or `null` for no expiry (JSON has no Infinity). */
  expiresAt: number | null;
}

interface StateFile {
  version: number;
  savedAt: number;
  entries: WarmRecord[];
}

/** Write the state atomically (temp file + rename). Throws on I/O errors; the caller logs them. */
export function saveState(path: string, entries: WarmRecord[], now: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const state: StateFile = { version: VERSION, savedAt: now, entries };
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(state));
  renameSync(temp, path);
}

function isRecord(value: unknown): value is WarmRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  const file = r.file as Record<string, unknown> | null | undefined;
  return (
    typeof r.key === 'string' &&
    typeof r.path === 'string' &&
    typeof r.host === 'string' &&
    typeof r.status === 'number' &&
    typeof r.reason === 'string' &&
    Array.isArray(r.fields) &&
    r.fields.every(
      (f) => Array.isArray(f) && f.length === 2 && typeof f[0] === 'string' && typeof f[1] === 'string',
    ) &&
    typeof r.frequency === 'number' &&
    typeof r.storedAt === 'number' &&
    (r.expiresAt === null || typeof r.expiresAt === 'number') &&
    typeof file === 'object' &&
    file !== null &&
    typeof file.path === 'string' &&
    typeof file.size === 'number' &&
    typeof file.mtimeMs === 'number' &&
    typeof file.ino === 'number'
  );
}

/**
 * Read a state file. Missing → `[]` silently; unreadable, corrupt or another version → `[]` plus a
 * warning; individual malformed entries are dropped (counted in the warning).
 */
export function loadState(path: string, warn: (message: string) => void): WarmRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      warn(`cache state ${path} unreadable (${(error as Error).message}); starting cold`);
    }
    return [];
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch {
    warn(`cache state ${path} is corrupt (not JSON); starting cold`);
    return [];
  }
  const s = state as Partial<StateFile> | null;
  if (typeof s !== 'object' || s === null || s.version !== VERSION || !Array.isArray(s.entries)) {
    warn(`cache state ${path} has an unknown format; starting cold`);
    return [];
  }
  const good = s.entries.filter(isRecord);
  if (good.length !== s.entries.length) {
    warn(`cache state ${path}: ${s.entries.length - good.length} malformed entries skipped`);
  }
  return good;
}

/** Read one file whole, checking it is still the file that was saved (size, mtime, inode). */
async function readUnchanged(file: FileSource): Promise<Buffer | null> {
  if (!fileUnchanged(file)) return null;
  const handle = await open(file.path, 'r');
  try {
    const stats = await handle.stat();
    if (stats.size !== file.size || stats.mtimeMs !== file.mtimeMs || stats.ino !== file.ino) return null;
    const body = Buffer.allocUnsafeSlow(file.size);
    let read = 0;
    while (read < file.size) {
      const { bytesRead } = await handle.read(body, read, file.size - read, read);
      if (bytesRead === 0) return null; // truncated under us
      read += bytesRead;
    }
    return body;
  } finally {
    await handle.close();
  }
}

/**
 * Reload records (hottest first) until `budget` bytes of bodies are read, one file at a time with the
 * event loop free in between. `add` builds and stores an entry (returns false when refused). Returns the
 * number of entries added and skipped. `cancelled()` is polled between files (shutdown during reload).
 */
export async function reloadEntries(
  records: WarmRecord[],
  budget: number,
  add: (record: WarmRecord, body: Buffer) => boolean,
  cancelled: () => boolean,
): Promise<{ added: number; stale: number }> {
  let added = 0;
  let stale = 0;
  let used = 0;
  const sorted = records.slice().sort((a, b) => b.frequency - a.frequency);
  for (const record of sorted) {
    if (cancelled()) break;
    if (used + record.file.size > budget) continue;
    let body: Buffer | null = null;
    try {
      body = await readUnchanged(record.file);
    } catch {
      body = null;
    }
    if (body === null) {
      stale++;
      continue;
    }
    if (cancelled()) break;
    if (add(record, body)) {
      added++;
      used += body.length;
    }
  }
  return { added, stale };
}

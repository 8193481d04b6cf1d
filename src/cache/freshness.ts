/**
 * Freshness against disk: a cached file is compared with the file system at most once per
 * `revalidate_interval`, on the first hit after the interval has passed.
 *
 * Guarantee: once a file is changed or deleted on disk, the cache serves the old bytes for at most
 * `revalidate_interval` (default 1 s) — the entry's last comparison was less than one interval ago, and
 * the next hit after that compares again, drops the entry, and lets the static plugin answer (fresh
 * content, or 404). A change is a different size, mtime or inode (editors that write a new file and rename
 * it over the old one change the inode). Two writes within the file system's mtime resolution that keep the
 * size are the only change it cannot see; ext4, xfs and btrfs keep nanoseconds.
 *
 * `statSync` is used on purpose: it takes a few microseconds for a file in the dentry cache, once per
 * entry per interval, which is cheaper than a round trip through libuv's thread pool.
 */
import { statSync } from 'node:fs';
import type { FileSource } from '../http/types.ts';

/** Whether `file` is still what is on disk (same size, mtime and inode). Never throws. */
export function fileUnchanged(file: FileSource): boolean {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(file.path, { throwIfNoEntry: false });
  } catch {
    return false; // permission changes, ENOTDIR...: treat as gone, the static plugin will say why
  }
  if (stats === undefined || !stats.isFile()) return false;
  return stats.size === file.size && stats.mtimeMs === file.mtimeMs && stats.ino === file.ino;
}

/**
 * Revalidation of one entry at `now`: `true` when the entry may be served. Entries without a file (proxied
 * responses) are fresh here; their freshness is HTTP's business.
 */
export function revalidate(
  entry: { checkAt: number; readonly record: { readonly file: FileSource | null } },
  now: number,
  intervalMs: number,
): boolean {
  if (now < entry.checkAt) return true;
  const file = entry.record.file;
  if (file !== null && !fileUnchanged(file)) return false;
  entry.checkAt = now + intervalMs;
  return true;
}

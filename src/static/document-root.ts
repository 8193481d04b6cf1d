/**
 * One document root on disk: looking files up under it with the symlink policy applied, and reading small
 * files through a bounded cache of open descriptors (like nginx's open_file_cache: each request still
 * stats the path, so a changed or replaced file is noticed at once, but the open/close pair is saved).
 *
 * Synchronous calls on purpose: for the small files that dominate traffic, a stat and a pread cost a few
 * microseconds each, while a round trip through libuv's threadpool costs more than the work itself.
 */
import {
  closeSync,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  realpathSync,
  type Stats,
  statSync,
} from 'node:fs';
import { dirname } from 'node:path';

/** What to do with symbolic links met under the root. */
export type SymlinkPolicy = 'inside' | 'follow' | 'deny';

/** How long a directory's symlink verdict is trusted before it is checked again. */
const DIR_CHECK_TTL_MS = 1000;
/** Directories (and misses) remembered at most; a map is cleared when full (cheap, and rare). */
const DIR_CACHE_MAX = 4096;
/** How long an optional file found missing (a precompressed sibling) is taken to stay missing. */
export const MISS_TTL_MS = 1000;
/** Open descriptors kept per root; the least recently opened one is closed first. */
const FD_CACHE_MAX = 256;

interface DirVerdict {
  ok: boolean;
  expires: number;
}

interface OpenFile {
  fd: number;
  ino: number;
}

/** Errors a lookup treats as "not there" rather than a server fault. */
function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG' || code === 'ELOOP';
}

export class DocumentRoot {
  /** Real path of the root, without a trailing slash. */
  readonly path: string;
  readonly symlinks: SymlinkPolicy;
  private readonly prefix: string;
  private readonly dirs = new Map<string, DirVerdict>();
  private readonly open = new Map<string, OpenFile>();
  private readonly misses = new Map<string, number>();

  /**
   * @param root an existing directory; its own real path becomes the root, so a root reached through a
   *   symlink (`/var/www` → `/srv/www`) is fine
   * @throws when the root does not exist or is not a directory (the message names `configKey`)
   */
  constructor(root: string, symlinks: SymlinkPolicy, configKey: string) {
    let real: string;
    try {
      real = realpathSync.native(root);
    } catch {
      throw new Error(`${configKey}: directory "${root}" does not exist`);
    }
    if (!statSync(real).isDirectory()) throw new Error(`${configKey}: "${root}" is not a directory`);
    this.path = real === '/' ? '' : real;
    this.prefix = this.path + '/';
    this.symlinks = symlinks;
  }

  /** Absolute path of a relative one (`''` is the root itself). */
  resolve(relative: string): string {
    return relative === '' ? this.path || '/' : this.prefix + relative;
  }

  /** Whether an absolute real path is the root or below it. */
  private contains(real: string): boolean {
    return real === this.path || real.startsWith(this.prefix);
  }

  /**
   * Stats a path relative to the root, applying the symlink policy; `undefined` when it does not exist or
   * the policy refuses it (the two answer alike, so a refused link does not reveal itself).
   * @param relative decoded, safe segments joined with `/` (see `safe-path.ts`), or `''` for the root
   */
  stat(relative: string): Stats | undefined {
    const full = this.resolve(relative);
    try {
      if (this.symlinks === 'follow') return statSync(full, { throwIfNoEntry: false });
      let stats = lstatSync(full, { throwIfNoEntry: false });
      if (stats === undefined) return undefined;
      if (stats.isSymbolicLink()) {
        if (this.symlinks === 'deny') return undefined;
        if (!this.contains(realpathSync.native(full))) return undefined;
        stats = statSync(full);
      }
      // The file itself is fine; a directory on the way may still be a link (`/a` → `/etc`).
      if (relative.includes('/') && !this.directoryAllowed(dirname(full))) return undefined;
      return stats;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /**
   * `stat` for optional files that most paths lack (precompressed siblings): a miss is remembered for
   * `MISS_TTL_MS`, so a request for a file without siblings does not pay a failed lstat per encoding.
   * A sibling added later is found once the miss expires.
   */
  statOptional(relative: string): Stats | undefined {
    const now = Date.now();
    const missUntil = this.misses.get(relative);
    if (missUntil !== undefined && missUntil > now) return undefined;
    const stats = this.stat(relative);
    if (stats === undefined) {
      if (this.misses.size >= DIR_CACHE_MAX) this.misses.clear();
      this.misses.set(relative, now + MISS_TTL_MS);
    } else if (missUntil !== undefined) {
      this.misses.delete(relative);
    }
    return stats;
  }

  /** Whether a directory under the root is reached without leaving it (`inside`) or without links (`deny`). */
  private directoryAllowed(dir: string): boolean {
    const now = Date.now();
    const cached = this.dirs.get(dir);
    if (cached !== undefined && cached.expires > now) return cached.ok;
    const real = realpathSync.native(dir);
    const ok = this.symlinks === 'deny' ? real === dir : this.contains(real);
    if (this.dirs.size >= DIR_CACHE_MAX) this.dirs.clear();
    this.dirs.set(dir, { ok, expires: now + DIR_CHECK_TTL_MS });
    return ok;
  }

  /**
   * Reads `length` bytes at `position` of a file just stat'ed, through a cached descriptor. Returns
   * `undefined` when the file changed between the stat and the read (replaced, or shorter than expected):
   * the caller starts over instead of sending bytes that do not match the headers. `into`: `length` bytes
   * to read into (memory the cache lends) instead of a new buffer.
   */
  read(full: string, stats: Stats, position: number, length: number, into?: Buffer): Buffer | undefined {
    let entry = this.open.get(full);
    if (entry !== undefined && entry.ino !== stats.ino) {
      this.open.delete(full);
      closeSync(entry.fd);
      entry = undefined;
    }
    if (entry === undefined) {
      const fd = this.openFile(full);
      if (fstatSync(fd).ino !== stats.ino) {
        closeSync(fd);
        return undefined;
      }
      if (this.open.size >= FD_CACHE_MAX) this.evictOldest();
      entry = { fd, ino: stats.ino };
      this.open.set(full, entry);
    }
    const buffer = into ?? Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(entry.fd, buffer, done, length - done, position + done);
      if (n === 0) return undefined;
      done += n;
    }
    return buffer;
  }

  /** Opens a file for reading; on EMFILE gives back half the cached descriptors and tries once more. */
  openFile(full: string): number {
    try {
      return openSync(full, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EMFILE' || this.open.size === 0) throw error;
      for (let i = this.open.size >> 1; i >= 0; i--) this.evictOldest();
      return openSync(full, 'r');
    }
  }

  private evictOldest(): void {
    for (const [path, entry] of this.open) {
      this.open.delete(path);
      closeSync(entry.fd);
      return;
    }
  }

  /** Closes every cached descriptor (server shutdown). */
  close(): void {
    for (const entry of this.open.values()) closeSync(entry.fd);
    this.open.clear();
    this.dirs.clear();
    this.misses.clear();
  }
}

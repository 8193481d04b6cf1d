/**
 * Content types from file names, through the maintained `mime-types` database, memoised per extension
 * so a request costs one Map lookup.
 */
import { contentType, lookup } from 'mime-types';

/** The type sent for files whose extension the database does not know. */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

const byExtension = new Map<string, string>();

/** The extension of the last segment, lower-cased (`''` when none): `a/b.tar.GZ` → `gz`. */
function extensionOf(path: string): string {
  const dot = path.lastIndexOf('.');
  if (dot < 0 || path.indexOf('/', dot) >= 0) return '';
  return path.slice(dot + 1).toLowerCase();
}

/**
 * The `Content-Type` for a file name, with `; charset=utf-8` for text types (as `mime-types` decides:
 * text/*, JSON, JavaScript).
 */
export function contentTypeFor(path: string): string {
  const ext = extensionOf(path);
  let type = byExtension.get(ext);
  if (type === undefined) {
    const mime = ext === '' ? false : lookup(ext);
    type = (mime && contentType(mime)) || DEFAULT_CONTENT_TYPE;
    if (byExtension.size < 1000) byExtension.set(ext, type);
  }
  return type;
}

const compressibleByType = new Map<string, boolean>();
const COMPRESSIBLE = /^(?:text\/|application\/(?:[\w.+-]*\+)?(?:json|xml|javascript|wasm)\b|image\/svg\+xml)/;

/**
 * Whether precompressed siblings are worth looking for: text-like types. Images, video, archives and fonts
 * (already compressed) are skipped without a file-system call and get no `Vary`.
 */
export function isCompressible(type: string): boolean {
  let compressible = compressibleByType.get(type);
  if (compressible === undefined) {
    compressible = COMPRESSIBLE.test(type);
    if (compressibleByType.size < 1000) compressibleByType.set(type, compressible);
  }
  return compressible;
}

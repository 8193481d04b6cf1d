/**
 * The `[static]` config table, validated strictly: an unknown or misspelled key is an error that names it.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { duration, isHostOrIp } from '../server/units.ts';

/**
 * The bundled demo site. Resolved from this module's location, which is `src/static/` when running the
 * TypeScript and `dist/static/` in the published package: two levels up is the package root either way.
 */
export const DEFAULT_ROOT = fileURLToPath(new URL('../../site/', import.meta.url));

/** A file name without separators (for `index`). */
const fileName = z
  .string()
  .min(1)
  .refine((name) => !/[/\\\0]/.test(name) && name !== '.' && name !== '..', {
    message: 'expected a plain file name without "/" or "\\"',
  });

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

/** A document root: checked here so that `tamarin check` reports a missing one, not only start-up. */
const directory = z.string().min(1).refine(isDirectory, { error: 'expected an existing directory' });

/**
 * A virtual host's name, matched exactly against the request's Host without its port. A wildcard
 * (`*.example.com`) or a port would never match: refused rather than silently ignored.
 */
const virtualHost = z
  .string()
  .min(1)
  .refine((name) => !name.includes('*'), {
    error: 'wildcard host names are not supported: list each name (e.g. "www.example.com")',
  })
  .refine(isHostOrIp, { error: 'expected a host name or IP address without a port' });

/**
 * Error pages the config names must exist under a document root; only the default entry (`404.html`)
 * may be absent, since it is picked up where a site happens to have one.
 */
function errorPagesExist(
  options: { root: string; hosts: Record<string, string>; error_pages: Record<string, string> },
  ctx: z.core.$RefinementCtx,
): void {
  const roots = [options.root, ...Object.values(options.hosts)];
  for (const [status, page] of Object.entries(options.error_pages)) {
    if (status === '404' && page === '404.html') continue;
    if (roots.some((root) => statSync(join(root, page), { throwIfNoEntry: false })?.isFile() === true))
      continue;
    ctx.addIssue({
      code: 'custom',
      path: ['error_pages', status],
      input: page,
      message: `expected a file under the document root (${roots.join(', ')})`,
    });
  }
}

const staticTable = z.strictObject({
  /**
   * Document root: the directory served for requests whose Host is not in `hosts`. A relative path is
   * resolved against the config file's folder (the working directory when there is no file).
   * @default the bundled demo site (`site/` in the package)
   */
  root: directory.default(DEFAULT_ROOT),
  /**
   * File names tried, in order, when a directory is requested with a trailing slash.
   * @default ["index.html"]
   */
  index: z.array(fileName).default(['index.html']),
  /**
   * Virtual hosts: Host name (without port) → document root. Requests for other hosts use `root`.
   * @default {}
   */
  hosts: z.record(virtualHost, directory).default({}),
  /**
   * Files and directories whose name starts with `.`: `"deny"` answers 404 (`.git/`, `.env` never leak;
   * `.well-known/` is still served), `"allow"` serves them like any other file.
   * @default "deny"
   */
  dotfiles: z.enum(['deny', 'allow']).default('deny'),
  /**
   * Symbolic links under the root: `"inside"` follows a link only when its target stays inside the root,
   * `"follow"` follows every link, `"deny"` refuses every link (404).
   * @default "inside"
   */
  symlinks: z.enum(['inside', 'follow', 'deny']).default('inside'),
  /**
   * Whether a directory without an index file gets an HTML listing of its entries (otherwise 404).
   * @default false
   */
  listing: z.boolean().default(false),
  /**
   * Serve `file.zst` / `file.br` / `file.gz` next to `file` when Accept-Encoding allows (in the
   * `[compress]` preference order when that plugin runs, else zstd, br, gzip on equal q-values), with the original's
   * Content-Type and `Vary: Accept-Encoding` (text-like types only). A sibling older than the original is
   * considered stale and skipped.
   * @default true
   */
  precompressed: z.boolean().default(true),
  /**
   * Send a strong ETag (`"<size-hex>-<mtime-hex>"`) and honour If-Match / If-None-Match / If-Range with it.
   * @default true
   */
  etag: z.boolean().default(true),
  /**
   * Custom error pages: status → file relative to the document root. Served with the error status; when
   * the file does not exist under a root the built-in one-line text body is sent instead, so the default
   * picks up a `404.html` where a site has one (the GitHub Pages / Netlify convention). `{}` turns it off.
   * @default { "404" = "404.html" }
   */
  error_pages: z
    .record(z.string().regex(/^[45]\d\d$/, 'expected an error status such as "404"'), z.string().min(1))
    .default({ '404': '404.html' }),
  /**
   * `Cache-Control: public, max-age=<seconds>` on file responses, e.g. `"1h"`. Omitted: no Cache-Control.
   * @default none
   */
  max_age: duration().optional(),
  /**
   * When nothing matches a request: `false` answers 404 here (with the custom 404 page), `true` returns the
   * request to the plugin host so a later content handler may take it.
   * @default false
   */
  fallthrough: z.boolean().default(false),
});

/** The `[static]` table, with the error pages checked against the roots. */
export const staticOptionsSchema = staticTable.superRefine(errorPagesExist);

/** The validated `[static]` options. */
export type StaticOptions = z.output<typeof staticOptionsSchema>;

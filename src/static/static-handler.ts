/**
 * The static-file content handler: from a request to a file under the right document root, with
 * validators, conditionals, ranges, precompressed siblings, directories and error pages.
 *
 * Header order is fixed, because the cache stores what is set here (`res.headerEntries()`) and replays it:
 *   200/206: Content-Type, [Content-Encoding], Content-Length, [Content-Range], Last-Modified, ETag,
 *            Accept-Ranges, [Vary], [Cache-Control]
 *   304:     Last-Modified, ETag, [Vary], [Cache-Control]           (RFC 9110 §15.4.5)
 *   errors:  Content-Type, Content-Length, [Allow | Content-Range | Location]
 * `Content-Length` is always set here, also for HEAD, so a HEAD answer states what GET would send.
 */
import { closeSync, fstatSync, readFileSync, type Stats } from 'node:fs';
import { type BodyLoan, lendBody, wantsWholeBody } from '../http/body-keepers.ts';
import { lendScratch } from '../http/scratch-bodies.ts';
import { checkPreconditions } from '../http/semantics/conditional.ts';
import { CODING_SUFFIXES, type Coding, Negotiator } from '../http/semantics/encoding.ts';
import { makeEtag } from '../http/semantics/etag.ts';
import { formatHttpDate } from '../http/semantics/http-date.ts';
import { contentRange, evaluateRange, planMultipart, unsatisfiedRange } from '../http/semantics/range.ts';
import type { Request, Response } from '../http/types.ts';
import { DocumentRoot } from './document-root.ts';
import { renderListing } from './listing.ts';
import { contentTypeFor, isCompressible } from './mime.ts';
import type { StaticOptions } from './options.ts';
import { hasHiddenSegment, parseRequestPath, type SafePath } from './safe-path.ts';
import { type BodyPart, streamParts } from './stream-file.ts';
import { SYNC_LENT_MAX, sendWhole } from './whole-body.ts';

/** Bodies at least this large are streamed asynchronously; smaller ones are read in one synchronous pread. */
export const STREAM_THRESHOLD = 64 * 1024;

const STATUS_TEXT: Record<number, string> = {
  301: 'Moved Permanently',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  412: 'Precondition Failed',
  416: 'Range Not Satisfiable',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const TEXT_PLAIN = 'text/plain; charset=utf-8';
const HTML = 'text/html; charset=utf-8';
const ALLOW = 'GET, HEAD';

/** A document root with its error pages (status → path relative to the root). */
interface Site {
  root: DocumentRoot;
  errorPages: Map<number, string>;
}

export class StaticHandler {
  private readonly defaultSite: Site;
  private readonly sites: Map<string, Site> | null;
  private readonly index: readonly string[];
  private readonly denyDotfiles: boolean;
  private readonly listing: boolean;
  private readonly precompressed: boolean;
  private readonly negotiator: Negotiator;
  private readonly etag: boolean;
  private readonly cacheControl: string | undefined;
  private readonly fallthrough: boolean;
  private readonly lastModified = new Map<number, string>();

  /** @throws when a root does not exist; the message names the config key */
  /**
   * @param negotiator the order siblings are tried in (the `compress` plugin's, so that the cache's key
   *   and the on-the-fly encoder agree) @default zstd, br, gzip for equal q-values
   */
  constructor(options: StaticOptions, negotiator: Negotiator = new Negotiator()) {
    this.negotiator = negotiator;
    const errorPages = new Map<number, string>();
    for (const [status, page] of Object.entries(options.error_pages)) {
      const parsed = parseRequestPath('/' + page);
      if ('error' in parsed) throw new Error(`static.error_pages.${status}: ${parsed.error}`);
      errorPages.set(Number(status), parsed.segments.join('/'));
    }
    const site = (root: string, key: string): Site => ({
      root: new DocumentRoot(root, options.symlinks, key),
      errorPages,
    });
    this.defaultSite = site(options.root, 'static.root');
    const hosts = Object.entries(options.hosts);
    this.sites = hosts.length === 0 ? null : new Map();
    for (const [host, root] of hosts) {
      this.sites?.set(host.toLowerCase(), site(root, `static.hosts."${host}"`));
    }
    this.index = options.index;
    this.denyDotfiles = options.dotfiles === 'deny';
    this.listing = options.listing;
    this.precompressed = options.precompressed;
    this.etag = options.etag;
    this.cacheControl =
      options.max_age === undefined ? undefined : `public, max-age=${Math.floor(options.max_age / 1000)}`;
    this.fallthrough = options.fallthrough;
  }

  /** Stage 30 handler: `true` when this request was answered here. */
  handle(req: Request, res: Response): boolean {
    const path = req.path;
    if (path.charCodeAt(0) !== 0x2f) return false; // `*` (OPTIONS): not a file
    const site = this.sites?.get(req.host) ?? this.defaultSite;
    const parsed = parseRequestPath(path);
    if ('error' in parsed) return this.sendError(res, site, 400, parsed.error);
    if (this.denyDotfiles && hasHiddenSegment(parsed.segments)) return this.notFound(res, site);
    const segments = parsed.segments;
    const relative = segments.length === 1 ? segments[0]! : segments.join('/');
    try {
      return this.serve(req, res, site, parsed, relative, 0);
    } catch (error) {
      // A file-system error other than "not there": permissions → 403, anything else → 500.
      if (res.headersSent) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') return this.sendText(res, 403, 'Forbidden');
      throw error;
    }
  }

  private serve(
    req: Request,
    res: Response,
    site: Site,
    parsed: SafePath,
    relative: string,
    attempt: number,
  ): boolean {
    const stats = site.root.stat(relative);
    if (stats === undefined) return this.notFound(res, site);
    if (stats.isDirectory()) return this.directory(req, res, site, parsed, relative, attempt);
    // Only regular files: never read a FIFO, socket or device that ended up under the root.
    if (!stats.isFile() || parsed.trailingSlash) return this.notFound(res, site);
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.methodNotAllowed(res, site);
    if (this.sendFile(req, res, site, relative, stats)) return true;
    // The file changed between stat and read: look again once, then give up rather than loop.
    if (attempt === 0) return this.serve(req, res, site, parsed, relative, 1);
    return this.sendError(res, site, 503, 'file changed while being read');
  }

  private directory(
    req: Request,
    res: Response,
    site: Site,
    parsed: SafePath,
    rel: string,
    attempt: number,
  ): boolean {
    const getOrHead = req.method === 'GET' || req.method === 'HEAD';
    if (!parsed.trailingSlash && rel !== '') {
      if (!getOrHead) return this.methodNotAllowed(res, site);
      // Built from the checked segments, never from the raw path: `//evil.example` must not become a
      // protocol-relative Location.
      const location = '/' + parsed.rawSegments.join('/') + '/' + (req.query === '' ? '' : '?' + req.query);
      return this.sendText(res, 301, 'Moved Permanently: ' + location, 'Location', location);
    }
    for (const name of this.index) {
      const indexRel = rel === '' ? name : rel + '/' + name;
      const stats = site.root.stat(indexRel);
      if (stats?.isFile()) {
        if (!getOrHead) return this.methodNotAllowed(res, site);
        if (this.sendFile(req, res, site, indexRel, stats)) return true;
        if (attempt === 0) return this.serve(req, res, site, parsed, rel, 1);
        return this.sendError(res, site, 503, 'file changed while being read');
      }
    }
    if (!this.listing) return this.notFound(res, site);
    if (!getOrHead) return this.methodNotAllowed(res, site);
    const urlPath = '/' + parsed.segments.join('/') + (rel === '' ? '' : '/');
    const html = Buffer.from(renderListing(site.root.resolve(rel), urlPath, !this.denyDotfiles));
    res.statusCode = 200;
    res.setHeader('Content-Type', HTML);
    res.setHeader('Content-Length', html.length);
    res.end(html);
    return true;
  }

  /**
   * Sends a regular file (or its precompressed sibling). Returns `false`, with `res` untouched, when the
   * file changed under us between the stat and the read.
   */
  private sendFile(req: Request, res: Response, site: Site, relative: string, fileStats: Stats): boolean {
    const root = site.root;
    const type = contentTypeFor(relative);
    const vary = this.precompressed && isCompressible(type);
    let stats = fileStats;
    let path = root.resolve(relative);
    let encoding: Coding | undefined;
    if (vary) {
      for (const candidate of this.negotiator.accepted(req.headers.get('accept-encoding')).order) {
        const suffix = CODING_SUFFIXES[candidate];
        const sibling = root.statOptional(relative + suffix);
        // A sibling older than its original is stale (the original was edited, the .br was not rebuilt):
        // sending the original uncompressed beats sending outdated content.
        if (sibling?.isFile() && sibling.mtimeMs >= fileStats.mtimeMs) {
          stats = sibling;
          path += suffix;
          encoding = candidate;
          break;
        }
      }
    }
    const size = stats.size;
    const mtimeMs = stats.mtimeMs;
    const etag = this.etag ? makeEtag(size, mtimeMs, encoding) : undefined;
    const method = req.method;

    const precondition = checkPreconditions(req.headers, method, etag, mtimeMs);
    if (precondition === 304) {
      res.file = { path, size, mtimeMs, ino: stats.ino };
      res.statusCode = 304;
      this.setValidators(res, mtimeMs, etag, vary, false);
      res.end();
      return true;
    }
    if (precondition === 412) {
      res.file = { path, size, mtimeMs, ino: stats.ino };
      return this.sendError(res, site, 412, 'precondition failed');
    }

    const range = evaluateRange(req.headers, method, size, etag, mtimeMs);
    if (range.type === 'unsatisfiable') {
      res.file = { path, size, mtimeMs, ino: stats.ino };
      return this.sendText(res, 416, 'Range Not Satisfiable', 'Content-Range', unsatisfiedRange(size));
    }
    const ranges = range.type === 'partial' ? range.ranges : null;
    const head = method === 'HEAD';

    if (ranges !== null && ranges.length > 1) {
      // multipart/byteranges (RFC 9110 §14.6): always streamed, from a descriptor of our own.
      const plan = planMultipart(ranges, size, type);
      const fd = head ? -1 : this.openChecked(root, path, stats);
      if (fd === undefined) return false;
      res.file = { path, size, mtimeMs, ino: stats.ino };
      res.statusCode = 206;
      res.setHeader('Content-Type', plan.contentType);
      if (encoding !== undefined) res.setHeader('Content-Encoding', encoding);
      res.setHeader('Content-Length', plan.length);
      this.setValidators(res, mtimeMs, etag, vary, true);
      if (head) {
        res.end();
        return true;
      }
      const parts: BodyPart[] = [];
      for (let i = 0; i < ranges.length; i++) parts.push(plan.heads[i]!, ranges[i]!);
      parts.push(plan.tail);
      streamParts(res, fd, parts);
      return true;
    }

    const start = ranges === null ? 0 : ranges[0]!.start;
    const length = ranges === null ? size : ranges[0]!.end - start + 1;
    let body: Buffer | undefined;
    let fd: number | undefined;
    // A small body the cache keeps is read into memory it lends (its staging area in the arena).
    let loan: BodyLoan | null = null;
    if (!head) {
      if (length < STREAM_THRESHOLD) {
        if (ranges === null && length > 0) loan = lendBody(res, length);
      } else if (length <= SYNC_LENT_MAX) {
        // A medium body is read at once too, into memory lent for it: the cache's when it keeps the body
        // (none: read whole into a buffer of its own below), scratch memory when nobody keeps it.
        const kept = wantsWholeBody(res, length);
        loan = kept ? (ranges === null ? lendBody(res, length) : null) : lendScratch(res, length);
      }
      if (length < STREAM_THRESHOLD || loan !== null) {
        // Through the root's descriptor cache: a hot file costs one pread, no open/fstat/close.
        body = root.read(path, stats, start, length, loan?.buffer);
        if (body === undefined) {
          loan?.release();
          return false;
        }
      } else {
        fd = this.openChecked(root, path, stats);
        if (fd === undefined) return false;
      }
    }
    res.file = { path, size, mtimeMs, ino: stats.ino };
    res.statusCode = ranges === null ? 200 : 206;
    res.setHeader('Content-Type', type);
    if (encoding !== undefined) res.setHeader('Content-Encoding', encoding);
    res.setHeader('Content-Length', length);
    if (ranges !== null) res.setHeader('Content-Range', contentRange(ranges[0]!, size));
    this.setValidators(res, mtimeMs, etag, vary, true);
    if (loan !== null) res.endLent!(body!, loan.release);
    else if (body !== undefined) res.end(body);
    else if (fd === undefined) res.end();
    // A body the cache will keep: one exact-size buffer, sent, captured and stored without a copy.
    else if (ranges === null && wantsWholeBody(res, length)) sendWhole(res, fd, start, length);
    else streamParts(res, fd, [{ start, end: start + length - 1 }]);
    return true;
  }

  /** Opens a file for streaming and checks it is still the one stat'ed; `undefined` when it changed. */
  private openChecked(root: DocumentRoot, path: string, stats: Stats): number | undefined {
    const fd = root.openFile(path);
    const now = fstatSync(fd);
    if (now.ino !== stats.ino || now.size !== stats.size || now.mtimeMs !== stats.mtimeMs) {
      closeSync(fd);
      return undefined;
    }
    return fd;
  }

  private setValidators(
    res: Response,
    mtimeMs: number,
    etag: string | undefined,
    vary: boolean,
    ranges: boolean,
  ) {
    res.setHeader('Last-Modified', this.httpDate(mtimeMs));
    if (etag !== undefined) res.setHeader('ETag', etag);
    if (ranges) res.setHeader('Accept-Ranges', 'bytes');
    if (vary) res.setHeader('Vary', 'Accept-Encoding');
    if (this.cacheControl !== undefined) res.setHeader('Cache-Control', this.cacheControl);
  }

  /** `Last-Modified` strings, memoised per second: formatting a date costs more than the lookup. */
  private httpDate(mtimeMs: number): string {
    const second = Math.floor(mtimeMs / 1000);
    let text = this.lastModified.get(second);
    if (text === undefined) {
      text = formatHttpDate(second * 1000);
      if (this.lastModified.size >= 4096) this.lastModified.clear();
      this.lastModified.set(second, text);
    }
    return text;
  }

  private notFound(res: Response, site: Site): boolean {
    if (this.fallthrough) return false;
    return this.sendError(res, site, 404, '');
  }

  private methodNotAllowed(res: Response, site: Site): boolean {
    return this.sendError(res, site, 405, 'use GET or HEAD', 'Allow', ALLOW);
  }

  /**
   * The configured error page for `status` on `host`'s site, read from disk, or null (none configured,
   * missing or unreadable). For other plugins' error answers (the proxy's 502 and 504).
   */
  errorPage(status: number, host: string): { body: Buffer; contentType: string } | null {
    const site = this.sites?.get(host) ?? this.defaultSite;
    const page = site.errorPages.get(status);
    if (page === undefined || site.root.stat(page)?.isFile() !== true) return null;
    try {
      return { body: readFileSync(site.root.resolve(page)), contentType: contentTypeFor(page) };
    } catch {
      return null;
    }
  }

  /** An error status: the configured error page if there is one, else a one-line text body. */
  private sendError(
    res: Response,
    site: Site,
    status: number,
    reason: string,
    name?: string,
    value?: string,
  ) {
    const page = site.errorPages.get(status);
    if (page !== undefined) {
      const stats = site.root.stat(page);
      if (stats?.isFile()) {
        let body: Buffer | undefined;
        try {
          body = readFileSync(site.root.resolve(page));
        } catch {
          // Unreadable page: fall back to the built-in text below.
        }
        if (body !== undefined) {
          res.statusCode = status;
          res.setHeader('Content-Type', contentTypeFor(page));
          res.setHeader('Content-Length', body.length);
          if (name !== undefined && value !== undefined) res.setHeader(name, value);
          res.end(body);
          return true;
        }
      }
    }
    const text = STATUS_TEXT[status] ?? 'Error';
    return this.sendText(res, status, reason === '' ? text : `${text}: ${reason}`, name, value);
  }

  private sendText(res: Response, status: number, message: string, name?: string, value?: string): boolean {
    const body = Buffer.from(`${status} ${message}\n`);
    res.statusCode = status;
    res.setHeader('Content-Type', TEXT_PLAIN);
    res.setHeader('Content-Length', body.length);
    if (name !== undefined && value !== undefined) res.setHeader(name, value);
    res.end(body);
    return true;
  }

  /** Releases cached descriptors. */
  close(): void {
    this.defaultSite.root.close();
    if (this.sites !== null) for (const site of this.sites.values()) site.root.close();
  }
}

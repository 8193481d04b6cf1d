/**
 * Admission rules: which responses the content cache stores, and for how long. Pure functions over plain
 * data, compiled once from the config and table-tested (rules.test.ts).
 *
 * Monkey's cache options map onto these: `MaxFileSize` → `max_object_size`, `ExpiryTime` → `ttl`,
 * `MimeTypesList` → a `[[cache.rules]]` entry with `mime = [...]` followed by a catch-all
 * `{ cache = false }` rule.
 */
import { z } from 'zod';
import { duration } from '../server/units.ts';
import type { RejectionReason } from './stats.ts';

const oneOrMany = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
  .transform((value) => (typeof value === 'string' ? [value] : value));

/**
 * One `[[cache.rules]]` entry. A rule matches a response when every criterion it names matches (a list
 * matches when any of its items does); a rule without criteria matches everything. The first matching
 * rule decides; a response no rule matches is cached with the default `ttl`.
 */
export const cacheRuleSchema = z.strictObject({
  /**
   * Path globs on the decoded request path: `*` is any run of characters except `/`, `**` any run
   * including `/`, `?` one character. A glob without `/` matches the last path segment (`"*.css"`); one
   * with `/` matches the whole path (`"/img/**"`).
   */
  path: oneOrMany.optional(),
  /** File extensions, with or without the dot, case-insensitive (`["png", ".jpg"]`). */
  extension: oneOrMany.optional(),
  /** MIME types of the response's Content-Type: exact (`"text/html"`) or a family (`"image/*"`). */
  mime: oneOrMany.optional(),
  /** Whether matching responses are cached. @default true */
  cache: z.boolean().default(true),
  /** How long matching entries may be served; overrides `[cache] ttl`. @default the cache-wide `ttl` */
  ttl: duration()
    .refine((ms) => ms > 0, 'a ttl must be longer than 0 (use cache = false to not cache)')
    .optional(),
});

export type CacheRuleConfig = z.output<typeof cacheRuleSchema>;

/** A rule turned into fast matchers, once at start-up. */
interface CompiledRule {
  readonly pathGlobs: RegExp[] | null;
  readonly extensions: Set<string> | null;
  readonly mimeExact: Set<string> | null;
  readonly mimeFamilies: string[] | null;
  readonly mimeAny: boolean;
  readonly cache: boolean;
  readonly ttlMs: number | undefined;
}

/** Everything `decideAdmission` needs besides the response itself. */
export interface AdmissionRules {
  readonly minObjectSize: number;
  readonly maxObjectSize: number;
  /** Default time to live in ms; `Infinity` = until evicted or changed on disk. */
  readonly ttlMs: number;
  readonly rules: readonly CompiledRule[];
}

/** Compile the config's limits and rules. */
export function compileRules(config: {
  minObjectSize: number;
  maxObjectSize: number;
  ttlMs: number | undefined;
  rules: readonly CacheRuleConfig[];
}): AdmissionRules {
  return {
    minObjectSize: config.minObjectSize,
    maxObjectSize: config.maxObjectSize,
    ttlMs: config.ttlMs ?? Number.POSITIVE_INFINITY,
    rules: config.rules.map(compileRule),
  };
}

function compileRule(rule: CacheRuleConfig): CompiledRule {
  let mimeExact: Set<string> | null = null;
  let mimeFamilies: string[] | null = null;
  let mimeAny = false;
  if (rule.mime) {
    mimeExact = new Set();
    mimeFamilies = [];
    for (const raw of rule.mime) {
      const mime = raw.trim().toLowerCase();
      if (mime === '*' || mime === '*/*') mimeAny = true;
      else if (mime.endsWith('/*')) mimeFamilies.push(mime.slice(0, -1));
      else mimeExact.add(mime);
    }
  }
  return {
    pathGlobs: rule.path ? rule.path.map(globToRegExp) : null,
    extensions: rule.extension
      ? new Set(rule.extension.map((ext) => ext.replace(/^\./, '').toLowerCase()))
      : null,
    mimeExact,
    mimeFamilies,
    mimeAny,
    cache: rule.cache,
    ttlMs: rule.ttl,
  };
}

/** Translate a path glob to an anchored RegExp (see `cacheRuleSchema.path`). */
export function globToRegExp(glob: string): RegExp {
  const segmentOnly = !glob.includes('/');
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        // "/**/" also matches a single "/" so that "/a/**/b" matches "/a/b".
        if (glob[i + 1] === '/') {
          i++;
          source += '(?:.*/)?';
        } else source += '.*';
      } else source += '[^/]*';
    } else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  if (segmentOnly) return new RegExp(`(?:^|/)${source}$`);
  if (!glob.startsWith('/')) source = `/${source}`;
  return new RegExp(`^${source}$`);
}

/** Lower-cased media type of a Content-Type value, without parameters. */
export function mediaType(contentType: string | undefined): string {
  if (!contentType) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** Extension of the last path segment, lower-cased, without the dot; `''` when none. */
export function extensionOf(path: string): string {
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  return dot > slash + 1 ? path.slice(dot + 1).toLowerCase() : '';
}

function ruleMatches(rule: CompiledRule, path: string, ext: string, mime: string): boolean {
  if (rule.pathGlobs && !rule.pathGlobs.some((re) => re.test(path))) return false;
  if (rule.extensions && !rule.extensions.has(ext)) return false;
  if (rule.mimeExact) {
    const ok =
      rule.mimeAny ||
      rule.mimeExact.has(mime) ||
      (rule.mimeFamilies ?? []).some((family) => mime.startsWith(family));
    if (!ok) return false;
  }
  return true;
}

/** What the cache knows about a finished response when it decides whether to store it. */
export interface AdmissionInput {
  /** Decoded request path (what `path` globs and extensions match). */
  readonly path: string;
  readonly status: number;
  /** Body size in bytes. */
  readonly size: number;
  readonly contentType: string | undefined;
  /** The producer's Cache-Control field, if it set one. */
  readonly cacheControl: string | undefined;
}

export type AdmissionDecision =
  | { readonly admit: true; readonly ttlMs: number }
  | { readonly admit: false; readonly reason: RejectionReason };

/** Whether to store a response, and its time to live. Checks run cheapest first. */
export function decideAdmission(rules: AdmissionRules, input: AdmissionInput): AdmissionDecision {
  // Only complete 200 answers are stored; 206/304 are answered from a stored 200 (RFC 9111 §3.3-3.4
  // lets a cache combine, but a static file is always available whole, so we simply wait for one).
  if (input.status !== 200) return { admit: false, reason: 'status' };
  // A producer that said no-store or private (RFC 9111 §5.2.2.5, §5.2.2.7) is not second-guessed.
  if (input.cacheControl && /(?:^|[\s,])(?:no-store|private)(?:$|[\s,=])/i.test(input.cacheControl)) {
    return { admit: false, reason: 'no-store' };
  }
  if (input.size < rules.minObjectSize) return { admit: false, reason: 'too-small' };
  if (input.size > rules.maxObjectSize) return { admit: false, reason: 'too-large' };
  if (rules.rules.length > 0) {
    const ext = extensionOf(input.path);
    const mime = mediaType(input.contentType);
    for (const rule of rules.rules) {
      if (!ruleMatches(rule, input.path, ext, mime)) continue;
      if (!rule.cache) return { admit: false, reason: 'excluded' };
      return { admit: true, ttlMs: rule.ttlMs ?? rules.ttlMs };
    }
  }
  return { admit: true, ttlMs: rules.ttlMs };
}

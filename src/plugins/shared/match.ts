/**
 * What the small built-in plugins (headers, rewrite, access) share in their config: a request matcher
 * (host and path regex), header names and values checked at start-up. Compiled once; a request pays one
 * string compare and one regex test per rule at most.
 */
import { z } from 'zod';
import type { Request } from '../../http/types.ts';

/** RFC 9110 §5.6.2 token: what a field name must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 §5.5: no CR, LF, NUL or other controls but HTAB in a field value. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Fields no rule may touch: framing (the engine's), hop-by-hop (RFC 9110 §7.6.1, they describe one
 * connection) and `Date` (the engine's clock).
 */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
  'date',
  'expect',
]);

/** A field name a rule may set: a token, not framing or hop-by-hop. */
export const fieldName = z
  .string()
  .regex(TOKEN, { error: 'expected a header field name (letters, digits, -)' })
  .refine((name) => !RESERVED_FIELDS.has(name.toLowerCase()), {
    error: 'framing, hop-by-hop and Date fields are the server’s, not a rule’s',
  });

/** A field value without control characters. */
export const fieldValue = z
  .string()
  .refine((value) => !BAD_VALUE.test(value), { error: 'expected a value without control characters' });

/** A table of field name → value, each name checked as {@link fieldName} (errors name the field). */
export const fieldTable = z.record(z.string(), fieldValue).superRefine((table, ctx) => {
  for (const name of Object.keys(table)) {
    const result = fieldName.safeParse(name);
    if (!result.success)
      ctx.addIssue({ code: 'custom', path: [name], message: result.error.issues[0]!.message, input: name });
  }
});

/** A regex source, checked by compiling it. */
export const regexSource = z.string().superRefine((source, ctx) => {
  try {
    new RegExp(source);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `invalid regex: ${(error as Error).message}` });
  }
});

/** `match` and `host` of a rule: which requests it applies to. */
export const matchFields = {
  /** Regex on the request path (still percent-encoded); default: every path. */
  match: regexSource.optional(),
  /** Host name (no port, case-insensitive) or a list of them; default: every host. */
  host: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
};

/** A compiled matcher; `test` is the hot part. */
export class RequestMatcher {
  private readonly hosts: readonly string[] | null;
  private readonly pattern: RegExp | null;

  constructor(options: { match?: string | undefined; host?: string | string[] | undefined }) {
    const hosts = options.host === undefined ? null : [options.host].flat();
    this.hosts = hosts === null ? null : hosts.map((h) => h.toLowerCase().replace(/\.$/, ''));
    this.pattern = options.match === undefined ? null : new RegExp(options.match);
  }

  test(req: Request): boolean {
    if (this.hosts !== null && !this.hosts.includes(req.host)) return false;
    return this.pattern === null || this.pattern.test(req.path);
  }

  /** The path's captures (`$0`, `$1`…) when the rule matches, else null. */
  exec(req: Request): RegExpExecArray | null {
    if (this.hosts !== null && !this.hosts.includes(req.host)) return null;
    if (this.pattern === null) return [req.path] as unknown as RegExpExecArray;
    return this.pattern.exec(req.path);
  }
}

/**
 * `[rewrite]` options: rules of three kinds, tried in order on the request path (nginx `return` /
 * `rewrite` / `try_files`, Caddy `redir` / `rewrite` / `try_files`).
 */
import { z } from 'zod';
import { matchFields } from '../shared/match.ts';

/** Statuses a redirect may answer with (RFC 9110 §15.4). */
export const REDIRECT_STATUSES = [301, 302, 303, 307, 308] as const;

/** Highest `$n` in a template (captures it refers to). */
export function highestCapture(template: string): number {
  let highest = 0;
  for (const m of template.matchAll(/\$(\d)/g)) highest = Math.max(highest, Number(m[1]));
  return highest;
}

/** Capture groups a regex source has. */
function groupCount(source: string): number {
  try {
    return new RegExp(`${source}|`).exec('')!.length - 1;
  } catch {
    return 0; // the regex itself is reported by its own check
  }
}

const target = z
  .string()
  .min(1)
  .refine((t) => t.startsWith('/') || /^https?:\/\/[^/\s]/.test(t) || t.startsWith('$'), {
    error: 'expected a path starting with "/" or an http(s):// URL (with $1… for captures)',
  })
  .refine((t) => !/[\s\x00-\x1f\x7f]/.test(t), { error: 'expected no spaces or control characters' });

const ruleSchema = z
  .strictObject({
    ...matchFields,
    /** Answer with a redirect to this path or URL (`$1`… are the match's captures). */
    redirect: target.optional(),
    /** Redirect status. @default 302 */
    status: z
      .number()
      .refine((code) => (REDIRECT_STATUSES as readonly number[]).includes(code), {
        error: 'expected 301, 302, 303, 307 or 308',
      })
      .optional(),
    /** Replace the request-target (path and optionally `?query`) before routing and the cache. */
    rewrite: z
      .string()
      .regex(/^\/[^\s\x00-\x1f\x7f#]*$/, {
        error: 'expected a path starting with "/" (optionally with ?query and $1… for captures)',
      })
      .optional(),
    /** After a rewrite, stop: later rules are not tried (nginx `last` / `break`). @default false */
    last: z.boolean().optional(),
    /**
     * Candidates tried in order against the static root: `$uri` (the file), `$uri/` (a directory), other
     * paths with `$uri` in them; the last one is the fallback: a path to rewrite to, or `=404` (any
     * `=` + status 400..599) to answer with that status.
     */
    try_files: z.array(z.string().min(1)).min(2, { error: 'expected candidates and a fallback' }).optional(),
  })
  .superRefine((rule, ctx) => {
    const kinds = [rule.redirect, rule.rewrite, rule.try_files].filter((v) => v !== undefined).length;
    if (kinds !== 1) {
      ctx.addIssue({ code: 'custom', message: 'expected exactly one of redirect, rewrite or try_files' });
      return;
    }
    if (rule.status !== undefined && rule.redirect === undefined)
      ctx.addIssue({ code: 'custom', path: ['status'], message: 'status is for a redirect rule' });
    if (rule.last !== undefined && rule.rewrite === undefined)
      ctx.addIssue({ code: 'custom', path: ['last'], message: 'last is for a rewrite rule' });
    const template = rule.redirect ?? rule.rewrite;
    if (template !== undefined) {
      const groups = rule.match === undefined ? 0 : groupCount(rule.match);
      const wanted = highestCapture(template);
      if (wanted > groups) {
        ctx.addIssue({
          code: 'custom',
          path: [rule.redirect !== undefined ? 'redirect' : 'rewrite'],
          message: `refers to $${wanted} but match has ${groups} capture group${groups === 1 ? '' : 's'}`,
        });
      }
    }
    if (rule.try_files !== undefined) {
      const fallback = rule.try_files.at(-1)!;
      if (!fallback.startsWith('/') && !/^=[45]\d\d$/.test(fallback) && !fallback.startsWith('$uri')) {
        ctx.addIssue({
          code: 'custom',
          path: ['try_files', rule.try_files.length - 1],
          message: 'expected a fallback path starting with "/" or "=404" (a status 400..599)',
        });
      }
      for (const [i, candidate] of rule.try_files.slice(0, -1).entries()) {
        if (!candidate.includes('$uri') && !candidate.startsWith('/'))
          ctx.addIssue({
            code: 'custom',
            path: ['try_files', i],
            message: 'expected "$uri", "$uri/" or a path starting with "/"',
          });
      }
    }
  });

/** `[rewrite]` options. */
export const rewriteOptions = z.strictObject({
  /** Rules in order. @default [] */
  rules: z.array(ruleSchema).default([]),
});

export type RewriteOptions = z.output<typeof rewriteOptions>;
export type RewriteRule = RewriteOptions['rules'][number];

/**
 * `headers`: add, set and remove request and response fields, per host and path (nginx `add_header` /
 * `proxy_set_header`, Caddy `header` / `request_header`).
 *
 * Response edits go through the transient-field contract (`res.addTransientHeader`, `res.suppressHeader`),
 * so they reach every answer, cache hits included, and are never stored: a hit with an `add` rule is
 * still one write of pre-built bytes plus the added lines. `set` and `remove` rules make a hit re-assemble
 * its head (one pass over its lines). Request edits change the request later stages see and the proxy
 * forwards. Rules match the path as requested (before `rewrite`); every matching rule applies, in order.
 */
import { z } from 'zod';
import type { Request, Response } from '../../http/types.ts';
import { definePlugin, type Plugin } from '../../server/plugin.ts';
import { fieldName, fieldTable, matchFields, RequestMatcher } from '../shared/match.ts';

const editSchema = z.strictObject({
  /** Fields added (a response or request may then carry several with the same name). */
  add: fieldTable.default({}),
  /** Fields that replace every field of the same name. */
  set: fieldTable.default({}),
  /** Names of fields removed. */
  remove: z.array(fieldName).default([]),
});

const ruleSchema = z.strictObject({
  ...matchFields,
  /** Edits of the request (before the cache and content handlers; what the proxy forwards). */
  request: editSchema.optional(),
  /** Edits of the response (every answer: files, cache hits, proxied responses, errors). */
  response: editSchema.optional(),
});

/** `[headers]` options. */
export const headersOptions = z.strictObject({
  /** Rules in order; every matching rule applies. @default [] */
  rules: z.array(ruleSchema).default([]),
});

type Edit = z.output<typeof editSchema>;

/** One rule, compiled: flat arrays the request path walks. */
interface CompiledRule {
  readonly matcher: RequestMatcher;
  /** Response: names to suppress (set + remove), then [name, value] pairs to add (add + set). */
  readonly hide: readonly string[];
  readonly show: ReadonlyArray<readonly [string, string]>;
  /** Request: [name, value | null] for setHeader (set, remove), [name, value] for appendHeader (add). */
  readonly replace: ReadonlyArray<readonly [string, string | null]>;
  readonly append: ReadonlyArray<readonly [string, string]>;
}

function compile(rule: z.output<typeof ruleSchema>): CompiledRule {
  const response: Edit = rule.response ?? { add: {}, set: {}, remove: [] };
  const request: Edit = rule.request ?? { add: {}, set: {}, remove: [] };
  return {
    matcher: new RequestMatcher(rule),
    hide: [...Object.keys(response.set), ...response.remove],
    show: [...Object.entries(response.add), ...Object.entries(response.set)],
    replace: [...Object.entries(request.set), ...request.remove.map((name) => [name, null] as const)],
    append: Object.entries(request.add),
  };
}

function apply(rule: CompiledRule, req: Request, res: Response): void {
  for (const name of rule.hide) res.suppressHeader?.(name);
  for (const [name, value] of rule.show) res.addTransientHeader?.(name, value);
  for (const [name, value] of rule.replace) req.setHeader?.(name, value);
  for (const [name, value] of rule.append) req.appendHeader?.(name, value);
}

/** The `headers` plugin definition (`[headers]`, `[[headers.rules]]`). */
export const headersPlugin = definePlugin({
  name: 'headers',
  options: headersOptions,
  create(options): Plugin {
    const rules = options.rules.map(compile);
    // No rules: no hook, so requests do not even call this plugin.
    if (rules.length === 0) return { name: 'headers' };
    return {
      name: 'headers',
      onRequest(req, res) {
        for (let i = 0; i < rules.length; i++) {
          const rule = rules[i]!;
          if (rule.matcher.test(req)) apply(rule, req, res);
        }
        return false;
      },
    };
  },
});

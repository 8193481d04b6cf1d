/**
 * Per-status lifetimes set by the operator (nginx `proxy_cache_valid`, Varnish `beresp.ttl`): a route's
 * `ttl = { "200" = "10m", "404" = "1m", any = "30s" }` gives responses of those statuses a lifetime when
 * the origin sent none; with `ttl_override = true` it also replaces the origin's own (s-maxage, max-age,
 * Expires), as nginx's `proxy_ignore_headers Cache-Control Expires` does for the lifetime.
 *
 * What a rule never changes: whether a response may be stored at all (no-store, private, Authorization,
 * Set-Cookie, Vary: * keep it out) and whether a stored one must be validated before each use (no-cache,
 * must-revalidate): only the lifetime. The rules are compiled once into an array indexed by status.
 */
import { z } from 'zod';
import { duration } from '../server/units.ts';
import type { Lifetime } from './freshness.ts';

/** `ttl` in a route's cache table: 3-digit status codes (or `any`) to durations. */
export const ttlRulesSchema = z
  .record(
    z.string().regex(/^([1-5]\d\d|any)$/, 'expected a status code such as "200" or "404", or "any"'),
    duration(),
  )
  .optional();

/** Which rule decided a stored response's lifetime (shown in Cache-Status `detail`). */
export type TtlRuleSource = 'ttl' | 'ttl-override';

/** Compiled rules: lifetime in ms by status (-1: no rule), and whether they beat the origin's. */
export interface TtlRules {
  readonly byStatus: Int32Array;
  readonly override: boolean;
}

/** Compile `ttl` and `ttl_override`; null when there are no rules. */
export function compileTtlRules(
  table: Readonly<Record<string, number>> | undefined,
  override: boolean,
): TtlRules | null {
  if (table === undefined || Object.keys(table).length === 0) return null;
  const byStatus = new Int32Array(600).fill(-1);
  const any = table.any;
  if (any !== undefined) byStatus.fill(Math.min(any, 2 ** 31 - 1), 100);
  for (const [status, ms] of Object.entries(table)) {
    if (status !== 'any') byStatus[Number(status)] = Math.min(ms, 2 ** 31 - 1);
  }
  return { byStatus, override };
}

/**
 * The lifetime `rules` give a response of `status` whose origin-derived lifetime is `lifetime`, and the
 * rule that decided (null: the origin's or the route's usual settings did). A rule-given lifetime without
 * an override counts as implicit (`default`), so the Cookie safeguards still apply to it.
 */
export function applyTtlRules(
  rules: TtlRules | null,
  status: number,
  lifetime: Lifetime,
): { lifetime: Lifetime; rule: TtlRuleSource | null } {
  if (rules === null) return { lifetime, rule: null };
  const ms = status >= 100 && status < 600 ? rules.byStatus[status]! : -1;
  if (ms < 0) return { lifetime, rule: null };
  if (lifetime.source === 'explicit') {
    if (!rules.override) return { lifetime, rule: null };
    return { lifetime: { ms, source: 'explicit' }, rule: 'ttl-override' };
  }
  return { lifetime: { ms, source: 'default' }, rule: 'ttl' };
}

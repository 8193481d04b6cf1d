/**
 * What a ban is (src/http-cache/bans.ts runs them): the contract between the admin API, which checks a
 * ban before sending it to every worker, and the cache that applies it.
 */

/** A ban as given: regular expressions (source text) over the URL, the host and/or one stored field. */
export interface BanSpec {
  url?: string;
  host?: string;
  /** A response field name (`content-type`), with `value` the expression over its value. */
  field?: string;
  value?: string;
}

/** A ban as listed. */
export interface BanInfo extends BanSpec {
  id: number;
  /** Epoch ms it was added. */
  created: number;
  /** Entries this ban removed so far (lookups and sweeps). */
  removed: number;
}

/** Longest expression accepted (a ban comes from an authenticated operator; still bounded). */
export const MAX_BAN_EXPRESSION = 1024;
/** Why a ban spec is refused, or null when it is valid. */
export function banSpecError(spec: BanSpec): string | null {
  if (spec.url === undefined && spec.host === undefined && spec.field === undefined) {
    return 'a ban needs url, host or field (with value)';
  }
  if ((spec.field === undefined) !== (spec.value === undefined)) return 'field and value go together';
  for (const [name, source] of [
    ['url', spec.url],
    ['host', spec.host],
    ['value', spec.value],
  ] as const) {
    if (source === undefined) continue;
    if (source.length === 0 || source.length > MAX_BAN_EXPRESSION) {
      return `${name} must be 1 to ${MAX_BAN_EXPRESSION} characters`;
    }
    try {
      new RegExp(source);
    } catch (error) {
      return `${name}: invalid regular expression: ${(error as Error).message}`;
    }
  }
  if (spec.field !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(spec.field)) {
    return 'field must be a header field name';
  }
  return null;
}

const SPEC_NAMES: ReadonlySet<string> = new Set(['url', 'host', 'field', 'value']);

/**
 * A ban from query parameters, the admin API's syntax (`url=^/products/&host=...&field=content-type&value=
 * ^image/`): the spec, or why it is refused.
 */
export function banFromQuery(params: Iterable<[string, string]>): BanSpec | string {
  const spec: Record<string, string> = {};
  for (const [name, value] of params) {
    if (!SPEC_NAMES.has(name)) return `unknown parameter "${name}" (expected url, host, field, value)`;
    if (spec[name] !== undefined) return `${name} given twice`;
    spec[name] = value;
  }
  return banSpecError(spec) ?? spec;
}

/**
 * A ban from Varnish's `ban()` expression syntax, the subset a ban here can hold: conditions joined by
 * `&&`, each `req.url`, `req.http.host` or `obj.http.<field>` (one field), then `~` (regular expression)
 * or `==` (the exact text), then the argument, bare or in double quotes:
 * `req.http.host == shop.example.com && req.url ~ "^/products/"`. The spec, or why it is refused.
 */
export function banFromExpression(text: string): BanSpec | string {
  const spec: BanSpec = {};
  for (const condition of text.split('&&')) {
    const match =
      /^\s*(req\.url|req\.http\.host|obj\.http\.([!#$%&'*+.^_`|~0-9A-Za-z-]+))\s*(!~|!=|~|==|<=|>=|<|>)\s*(.*?)\s*$/.exec(
        condition,
      );
    if (match === null) {
      return `cannot read "${condition.trim()}": expected req.url, req.http.host or obj.http.<field>, then ~ or ==, then a value`;
    }
    const [, subject = '', field, operator = '', raw = ''] = match;
    if (operator !== '~' && operator !== '==') return `operator ${operator} is not supported (only ~ and ==)`;
    let argument = raw;
    if (argument.length >= 2 && argument.startsWith('"') && argument.endsWith('"'))
      argument = argument.slice(1, -1);
    if (argument === '') return `${subject} ${operator} needs a value`;
    const source = operator === '~' ? argument : `^${argument.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')}$`;
    const name = field !== undefined ? 'value' : subject === 'req.url' ? 'url' : 'host';
    if (spec[name] !== undefined) {
      return field !== undefined ? 'a ban holds one obj.http field' : `${subject} given twice`;
    }
    spec[name] = source;
    if (field !== undefined) spec.field = field.toLowerCase();
  }
  return banSpecError(spec) ?? spec;
}

/** What a ban looks at in a stored response. */
export type BanMatcher = (
  target: string,
  host: string,
  fields: Iterable<readonly [string, string]>,
) => boolean;

/**
 * A ban's test over a stored response (`banSpecError` must have accepted `spec`): its request-target (path
 * and query, as sent), its host and its stored fields. One function for a worker's ban list and the shared
 * store's owner, which applies a ban to every worker's entries at once.
 */
export function banMatcher(spec: BanSpec): BanMatcher {
  const url = spec.url === undefined ? null : new RegExp(spec.url);
  const host = spec.host === undefined ? null : new RegExp(spec.host);
  const field = spec.field?.toLowerCase() ?? null;
  const value = spec.value === undefined ? null : new RegExp(spec.value);
  return (target, entryHost, fields) => {
    if (url !== null && !url.test(target)) return false;
    if (host !== null && !host.test(entryHost)) return false;
    if (field === null) return true;
    for (const [name, text] of fields) if (name.toLowerCase() === field && value!.test(text)) return true;
    return false;
  };
}

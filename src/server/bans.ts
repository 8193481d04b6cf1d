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

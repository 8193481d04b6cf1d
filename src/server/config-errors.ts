/**
 * Config errors as a user reads them: `server.port: expected an integer from 0 to 65535, got "abc"`.
 * Zod's issues are turned into a key path and a sentence saying what was expected and what was found.
 */
import type { z } from 'zod';

/** One problem in a configuration. */
export interface ConfigIssue {
  /** Key path such as `server.port` or `plugins[2]`. */
  readonly path: string;
  /** What was expected, e.g. `expected an integer from 0 to 65535`. */
  readonly message: string;
  /** The offending value, when there is one (shown as `got …`). */
  readonly input?: unknown;
}

/** A user error in the configuration: printed without a stack trace, exit code 2. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(issueText).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }

  /** One `config error: …` line per issue, as the CLI prints them. */
  lines(): string[] {
    return this.issues.map((issue) => 'config error: ' + issueText(issue));
  }
}

/** `path: message, got value` (the `got` part only when the message does not already say it). */
export function issueText(issue: ConfigIssue): string {
  const got = 'input' in issue && !/\bgot\b/.test(issue.message) ? `, got ${describeValue(issue.input)}` : '';
  return `${issue.path}: ${issue.message}${got}`;
}

/** A short rendering of a config value for an error message. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'a table';
  return String(value);
}

/** Render a key path: `server.port`, `proxy.routes[0].url`. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      // A key such as a host name ("*.example.com") is quoted, as TOML would write it.
      const key = String(segment);
      out += (out === '' ? '' : '.') + (/^[\w.-]+$/.test(key) ? key : JSON.stringify(key));
    }
  }
  return out === '' ? '(root)' : out;
}

const TYPE_NAMES: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  object: 'a table',
  array: 'an array',
  record: 'a table',
};

/** The default zod messages start like this; anything else was written by a schema author, keep it. */
const ZOD_DEFAULT =
  /^(Invalid input|Invalid option|Too (big|small)|Unrecognized key|Invalid (string|number))/;

/** Edit distance (insertions, deletions, substitutions, adjacent swaps) between two short strings. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      }
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/** The candidate closest to `word` when it is a plausible typo of it (distance ≤ 2, and ≤ a third of it). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= 2 && bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** Keys allowed at a path (for "did you mean" hints), or `undefined` when unknown. */
export type KeysAt = (path: readonly PropertyKey[]) => readonly string[] | undefined;

/** Convert zod issues into config issues, with `prefix` prepended to every path. */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  prefix: readonly PropertyKey[],
  keysAt?: KeysAt,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const at = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const suggestion = closest(key, keysAt?.(at) ?? []);
        const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
        const plain =
          at.length === 0 ? 'unknown key (not a setting, nor a plugin in "plugins")' : 'unknown key';
        out.push({ path: formatPath([...at, key]), message: hint === '' ? plain : 'unknown key' + hint });
      }
      continue;
    }
    const withInput = 'input' in issue;
    out.push({
      path: formatPath(at),
      message: describeIssue(issue),
      ...(withInput ? { input: issue.input } : {}),
    });
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  // A refused record key: say what was wrong with it, not only that it was.
  if (issue.code === 'invalid_key' && issue.issues[0] !== undefined) return describeIssue(issue.issues[0]);
  if (!ZOD_DEFAULT.test(issue.message)) return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return `required (${TYPE_NAMES[issue.expected] ?? issue.expected})`;
      return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_big':
      return issue.origin === 'string' || issue.origin === 'array'
        ? `expected at most ${issue.maximum} ${issue.origin === 'string' ? 'characters' : 'items'}`
        : `expected a value ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'expected a non-empty string';
      return issue.origin === 'string' || issue.origin === 'array'
        ? `expected at least ${issue.minimum} ${issue.origin === 'string' ? 'characters' : 'items'}`
        : `expected a value ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
    case 'invalid_union': {
      // A union of plain types (e.g. a size: number or string): list what each branch wanted.
      const wanted = new Set<string>();
      for (const branch of issue.errors) {
        for (const inner of branch) {
          if (inner.code === 'invalid_type' && inner.path.length === 0)
            wanted.add(TYPE_NAMES[inner.expected] ?? inner.expected);
          else return branch.length === 1 ? describeIssue(inner) : 'invalid value';
        }
      }
      return wanted.size > 0 ? `expected ${[...wanted].join(' or ')}` : 'invalid value';
    }
    default:
      return issue.message;
  }
}

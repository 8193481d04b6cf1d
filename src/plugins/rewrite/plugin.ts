/**
 * `rewrite`: redirects, internal rewrites and `try_files`, at stage 20 (before the cache key, proxy routes
 * and static files see the request). Rules run in order on the request path:
 *
 * - `redirect`: answer 301/302/303/307/308 with `Location` (captures substituted; the query is kept unless
 *   the target has its own), and stop.
 * - `rewrite`: replace the target (same substitution and query rule); later rules see the new path
 *   unless `last = true`. `req.originalTarget` (and the access log) keep the received one.
 * - `try_files`: the first candidate that exists under the static root wins (`$uri` a file, `$uri/` a
 *   directory: the request goes on unchanged, or rewritten to the candidate); else the fallback: rewrite
 *   to it, or answer `=404`. One `stat` per candidate, only for requests the rule matches.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Request, Response } from '../../http/types.ts';
import { definePlugin, type Plugin, type PluginContext } from '../../server/plugin.ts';
import { RequestMatcher } from '../shared/match.ts';
import { type RewriteRule, rewriteOptions } from './options.ts';

const REDIRECT = 0;
const REWRITE = 1;
const TRY_FILES = 2;

interface CompiledRule {
  readonly kind: number;
  readonly matcher: RequestMatcher;
  readonly template: string;
  readonly status: number;
  readonly last: boolean;
  readonly candidates: readonly string[];
  /** try_files fallback: a path (`$uri` allowed) or null when `fallbackStatus` answers. */
  readonly fallback: string | null;
  readonly fallbackStatus: number;
}

function compile(rule: RewriteRule): CompiledRule {
  const kind = rule.redirect !== undefined ? REDIRECT : rule.rewrite !== undefined ? REWRITE : TRY_FILES;
  const files = rule.try_files ?? [];
  const fallback = files.at(-1) ?? '';
  return {
    kind,
    matcher: new RequestMatcher(rule),
    template: rule.redirect ?? rule.rewrite ?? '',
    status: rule.status ?? 302,
    last: rule.last === true,
    candidates: files.slice(0, -1),
    fallback: fallback.startsWith('=') ? null : fallback,
    fallbackStatus: fallback.startsWith('=') ? Number(fallback.slice(1)) : 0,
  };
}

/**
 * `$1`… replaced by the match's captures, `$uri` by the path. Captures come from the request path, which
 * the parser has checked (no spaces or control characters), so they cannot split a header.
 */
function substitute(template: string, match: RegExpExecArray, uri: string): string {
  if (template.indexOf('$') === -1) return template;
  return template.replace(/\$(uri|\d)/g, (_, name: string) =>
    name === 'uri' ? uri : (match[Number(name)] ?? ''),
  );
}

/** The query is kept unless the new target brings its own (nginx and Caddy do the same). */
function withQuery(target: string, query: string): string {
  return query === '' || target.includes('?') ? target : `${target}?${query}`;
}

/**
 * A local target never starts with `//` (or `/\`): a capture such as `/go//evil.example` must not become a
 * scheme-relative `Location` that sends the client to another site.
 */
function local(target: string): string {
  if (target.startsWith('/')) return target.replace(/^[/\\]+/, '/');
  return target;
}

const REDIRECT_BODY = Buffer.from('Redirecting\n');

function redirect(res: Response, status: number, location: string): void {
  res.statusCode = status;
  res.setHeader('Location', location);
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(REDIRECT_BODY);
}

/** Document roots of the static plugin, to look candidates up in. */
interface Roots {
  readonly root: string;
  readonly hosts: ReadonlyMap<string, string>;
}

function staticRoots(context: PluginContext): Roots | null {
  const config = context.config.static as { root?: unknown; hosts?: unknown } | undefined;
  if (config === undefined || typeof config.root !== 'string') return null;
  const hosts = new Map<string, string>();
  if (typeof config.hosts === 'object' && config.hosts !== null)
    for (const [host, root] of Object.entries(config.hosts)) hosts.set(host.toLowerCase(), String(root));
  return { root: config.root, hosts };
}

/** What a candidate path names under `root`: 'file', 'dir' or null (absent, unsafe, undecodable). */
function lookup(root: string, candidate: string): 'file' | 'dir' | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(candidate);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const segments = decoded.split('/');
  // Dot segments and dotfiles are left to the static plugin's own rules (it refuses or 404s them).
  if (segments.some((s) => s === '..' || (s.startsWith('.') && s !== ''))) return null;
  const file = path.join(root, decoded);
  const stats = fs.statSync(file, { throwIfNoEntry: false });
  if (stats === undefined) return null;
  return stats.isFile() ? 'file' : stats.isDirectory() ? 'dir' : null;
}

const NOT_FOUND_BODIES = new Map<number, Buffer>();

/** The `rewrite` plugin definition (`[rewrite]`, `[[rewrite.rules]]`). */
export const rewritePlugin = definePlugin({
  name: 'rewrite',
  options: rewriteOptions,
  create(options, context): Plugin {
    const rules = options.rules.map(compile);
    if (rules.length === 0) return { name: 'rewrite' };
    const roots = rules.some((r) => r.kind === TRY_FILES) ? staticRoots(context) : null;
    if (rules.some((r) => r.kind === TRY_FILES) && roots === null)
      throw new Error('try_files needs the static plugin’s document root ([static] root)');

    const tryFiles = (rule: CompiledRule, req: Request, res: Response, match: RegExpExecArray): boolean => {
      const root = roots!.hosts.get(req.host) ?? roots!.root;
      for (const candidate of rule.candidates) {
        const wanted = substitute(candidate, match, req.path);
        const dir = wanted.endsWith('/');
        const found = lookup(root, wanted);
        if (found === null || (found === 'dir') !== dir) continue;
        // `$uri/` naming the request's own directory: the static plugin adds the slash (301) and finds
        // the index itself.
        if (wanted !== req.path && wanted !== `${req.path}/`) req.rewrite?.(withQuery(wanted, req.query));
        return false;
      }
      if (rule.fallback !== null) {
        req.rewrite?.(withQuery(local(substitute(rule.fallback, match, req.path)), req.query));
        return false;
      }
      const status = rule.fallbackStatus;
      let body = NOT_FOUND_BODIES.get(status);
      if (body === undefined) {
        body = Buffer.from(`${status === 404 ? 'Not Found' : `Error ${status}`}\n`);
        NOT_FOUND_BODIES.set(status, body);
      }
      res.statusCode = status;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(body);
      return true;
    };

    return {
      name: 'rewrite',
      onRequest(req, res) {
        for (let i = 0; i < rules.length; i++) {
          const rule = rules[i]!;
          const match = rule.matcher.exec(req);
          if (match === null) continue;
          if (rule.kind === REDIRECT) {
            const location = withQuery(local(substitute(rule.template, match, req.path)), req.query);
            redirect(res, rule.status, location);
            return true;
          }
          if (rule.kind === REWRITE) {
            req.rewrite?.(withQuery(local(substitute(rule.template, match, req.path)), req.query));
            if (rule.last) return false;
            continue;
          }
          if (tryFiles(rule, req, res, match)) return true;
        }
        return false;
      },
    };
  },
});

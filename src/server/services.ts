/**
 * Service keys shared by plugins that may not import each other's files: the key and the shape of what is
 * handed over live here, below both (a key whose provider's folder its consumers may import lives with
 * the provider instead, e.g. the content cache's store in src/cache/service.ts).
 */
import type { Negotiator } from '../http/semantics/encoding.ts';
import type { Request } from '../http/types.ts';
import { type ServiceKey, serviceKey } from './plugin.ts';

/**
 * How the files a plugin serves vary: a cache keys stored file responses by what they depend on (the
 * static plugin serves different roots per Host, and precompressed siblings per Accept-Encoding).
 */
export interface FileVariants {
  /** Responses depend on the Host (virtual hosts with their own roots). */
  readonly byHost: boolean;
  /** Responses depend on Accept-Encoding (precompressed siblings are served). */
  readonly byEncoding: boolean;
}

/** Provided by the static plugin, used by the content cache. */
export const FILE_VARIANTS: ServiceKey<FileVariants> = serviceKey<FileVariants>('file-variants');

/**
 * Which requests a content handler placed before the static files takes (the proxy's routes). The content
 * cache asks before a static entry answers, so that a cached file never answers a request that routing
 * would send elsewhere.
 */
export interface RouteClaims {
  /** Routing would give this request (its host and normalised path) to this handler. */
  claims(req: Request): boolean;
  /** Some host's route takes this path: a static entry stored for it must ask `claims` on every hit. */
  claimsPathOnSomeHost(req: Request): boolean;
}

/** Provided by the proxy, looked up by the content cache. */
export const ROUTE_CLAIMS: ServiceKey<RouteClaims> = serviceKey<RouteClaims>('route-claims');

/** A custom page for an error status, or null for the built-in text. */
export interface ErrorPage {
  readonly body: Buffer;
  readonly contentType: string;
}

/**
 * Pages for error answers (the static plugin's `error_pages`): the host dresses its own 404 and 500 with
 * them, the proxy its 502, 504, 508 and 501.
 */
export interface ErrorPages {
  /** The page for `status` on the site of `host` (a request's Host), or null when none is configured. */
  errorPage(status: number, host: string): ErrorPage | null;
}

/** Provided by the static plugin, used by the proxy and by the host. */
export const ERROR_PAGES: ServiceKey<ErrorPages> = serviceKey<ErrorPages>('error-pages');

/**
 * The content codings the server produces and its preference among equally acceptable ones: the static
 * plugin picks precompressed siblings in this order and the content cache keys entries by the same
 * negotiated list, so that both agree with the on-the-fly encoder.
 */
export interface ContentCodings {
  readonly negotiator: Negotiator;
}

/** Provided by the `compress` plugin when enabled, used by the static plugin and the content cache. */
export const CONTENT_CODINGS: ServiceKey<ContentCodings> = serviceKey<ContentCodings>('content-codings');

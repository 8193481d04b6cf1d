/**
 * Service keys shared by plugins that may not import each other's files: the key and the shape of what is
 * handed over live here, below both (a key whose provider's folder its consumers may import lives with
 * the provider instead, e.g. the content cache's store in src/cache/service.ts).
 */
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

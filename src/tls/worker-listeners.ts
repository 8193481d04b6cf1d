/**
 * What runtime.ts calls to open a worker's listeners: the configured listener list, the certificate
 * store when a listener speaks TLS, the HTTP/2 adapter when one offers HTTP/2.
 */
import type net from 'node:net';
import path from 'node:path';
import type { Engine, EngineHooks, EngineOptions } from '../http/engine.ts';
import type { TamarinConfig } from '../server/config.ts';
import { CertificateStore, contextSettings } from './certificates.ts';
import { type Listeners, listenerSpecs, openListeners } from './listeners.ts';
import type { Http2Config, TlsConfig } from './options.ts';
import { ProtocolCounters } from './protocol-counters.ts';

export interface WorkerListenersParams {
  readonly config: TamarinConfig;
  readonly baseDir: string;
  /** Port per listener (from the primary), or undefined to use the configured ones. */
  readonly ports: readonly number[] | undefined;
  readonly reusePort: boolean;
  readonly engine: Engine;
  readonly engineOptions: EngineOptions;
  readonly hooks: EngineHooks;
  /** Session ticket keys shared by the workers (48 bytes), or null for per-worker keys. */
  readonly ticketKeys: Uint8Array | null;
  readonly warn: (message: string) => void;
  readonly listen: (server: net.Server, host: string, port: number, reusePort: boolean) => Promise<void>;
}

/** Load the certificates of `config` (a `ConfigError` names a broken file); null when no listener uses TLS. */
export function loadCertificates(
  config: TamarinConfig,
  baseDir: string,
  ticketKeys: Uint8Array | null,
): CertificateStore | null {
  const specs = listenerSpecs(config.server);
  const tlsConfig = config.tls as TlsConfig | undefined;
  if (!specs.some((s) => s.tls) || tlsConfig === undefined) return null;
  const keys = ticketKeys === null ? null : Buffer.from(ticketKeys);
  return new CertificateStore(tlsConfig, baseDir, contextSettings(tlsConfig, keys));
}

/** Open the listeners of one worker. */
export async function startWorkerListeners(params: WorkerListenersParams): Promise<Listeners> {
  const { config } = params;
  const specs = listenerSpecs(config.server);
  const store = loadCertificates(config, params.baseDir, params.ticketKeys);
  const counters = new ProtocolCounters();
  return openListeners({
    specs,
    ports: params.ports ?? specs.map((s) => s.port),
    reusePort: params.reusePort,
    engine: params.engine,
    engineOptions: params.engineOptions,
    hooks: params.hooks,
    tls: store === null ? null : { config: config.tls as TlsConfig, store },
    http2: async () => {
      const { createHttp2Acceptor } = await import('../http2/acceptor.ts');
      return createHttp2Acceptor({
        config: config.http2 as Http2Config,
        hooks: params.hooks,
        engineOptions: params.engineOptions,
        hsts: store === null ? '' : (config.tls as TlsConfig).hsts,
        counters,
      });
    },
    counters,
    acmeStorage: acmeStorageOf(config, params.baseDir),
    warn: params.warn,
    listen: params.listen,
  });
}

/** The ACME storage directory of `config`, or null without `[tls.acme]`. */
export function acmeStorageOf(config: TamarinConfig, baseDir: string): string | null {
  const acme = (config.tls as TlsConfig | undefined)?.acme;
  return acme === undefined ? null : path.resolve(baseDir, acme.storage);
}

/**
 * The listener kit the composition root installs in the host's catalogue (src/server/catalogue.ts): a
 * worker's runtime opens its listeners through it (the configured list, the certificate store when a
 * listener speaks TLS, the HTTP/2 adapter when one offers HTTP/2), and the primary checks the
 * certificates and makes the shared session ticket keys with it before any worker starts.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { ListenerKit, ListenerKitParams, WorkerListeners } from '../server/catalogue.ts';
import type { TamarinConfig } from '../server/config.ts';
import { ProtocolCounters } from '../server/protocol-counters.ts';
import { CertificateStore, contextSettings } from './certificates.ts';
import { tlsControl } from './control.ts';
import { listenerSpecs, openListeners } from './listeners.ts';
import type { Http2Config, TlsConfig } from './options.ts';

/** Load the certificates of `config` (a `ConfigError` names a broken file); null when no listener uses TLS. */
export function loadCertificates(
  config: TamarinConfig,
  baseDir: string,
  ticketKeys: Uint8Array | null,
): CertificateStore | null {
  const specs = listenerSpecs(config.server);
  const tlsConfig = config.tls as TlsConfig | undefined;
  if (!specs.some((s) => s.tls) || tlsConfig === undefined) return null;
  return new CertificateStore(tlsConfig, baseDir, contextSettings(tlsConfig, ticketKeys));
}

/** Open the listeners of one worker. */
export async function startWorkerListeners(params: ListenerKitParams): Promise<WorkerListeners> {
  const { config } = params;
  const specs = listenerSpecs(config.server);
  const store = loadCertificates(config, params.baseDir, params.ticketKeys);
  const counters = new ProtocolCounters();
  const listeners = await openListeners({
    specs,
    ports: params.ports ?? specs.map((s) => s.port),
    reusePort: params.reusePort,
    serving: params.serving,
    tls: store === null ? null : { config: config.tls as TlsConfig, store },
    http2: async (serving) => {
      const { createHttp2Acceptor } = await import('../http2/acceptor.ts');
      return createHttp2Acceptor({
        config: config.http2 as Http2Config,
        hooks: serving.hooks,
        engineOptions: serving.engineOptions,
        hsts: store === null ? '' : (config.tls as TlsConfig).hsts,
        counters,
      });
    },
    counters,
    acmeStorage: acmeStorageOf(config, params.baseDir),
    warn: params.warn,
    listen: params.listen,
  });
  return {
    ports: listeners.ports,
    close: () => listeners.close(),
    prepare: (next) => listeners.prepare(next),
    commit: (timeoutMs) => listeners.commit(timeoutMs),
    abort: () => listeners.abort(),
    drain: (timeoutMs) => listeners.drain(timeoutMs),
    stats: () => counters.snapshot(),
    control: (command) => tlsControl(listeners, command),
  };
}

/** The listener kit the composition root installs in the catalogue. */
export const tlsListenerKit: ListenerKit = {
  prepare: (config, baseDir) => (loadCertificates(config, baseDir, null) === null ? null : randomBytes(48)),
  open: startWorkerListeners,
};

/** The ACME storage directory of `config`, or null without `[tls.acme]`. */
export function acmeStorageOf(config: TamarinConfig, baseDir: string): string | null {
  const acme = (config.tls as TlsConfig | undefined)?.acme;
  return acme === undefined ? null : path.resolve(baseDir, acme.storage);
}

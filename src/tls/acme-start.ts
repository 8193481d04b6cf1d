/**
 * Start the ACME manager beside a running server when `[tls.acme]` asks for it: in the primary, once,
 * whatever the number of workers. A new certificate is loaded by every worker at once.
 */
import type { TamarinConfig } from '../server/config.ts';
import { createLogger } from '../server/logger.ts';
import type { ControlResult } from '../server/workers.ts';
import type { AcmeManager } from './acme.ts';
import type { TlsConfig } from './options.ts';
import { reloadCertificates } from './reload.ts';

/** What `withAcme` needs of a running server. */
interface Running {
  readonly config: TamarinConfig;
  control(target: string, command: string, args?: unknown): Promise<ControlResult[]>;
  close(): Promise<void>;
}

/** `server` with an ACME manager when configured (stopped by `close`); the manager is `acme`. */
export async function withAcme<T extends Running>(
  server: T,
  baseDir: string,
): Promise<T & { acme: AcmeManager | null }> {
  const acmeConfig = (server.config.tls as TlsConfig | undefined)?.acme;
  if (acmeConfig === undefined) return { ...server, acme: null };
  const { startAcme } = await import('./acme.ts');
  const log = createLogger('tls');
  const manager = await startAcme(acmeConfig, baseDir, log, async () => {
    const result = await reloadCertificates(server);
    for (const error of result.errors) log.warn(`acme: ${error}`);
  });
  const close = server.close;
  return {
    ...server,
    acme: manager,
    async close() {
      manager.stop();
      await close();
    },
  };
}

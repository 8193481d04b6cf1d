/**
 * Certificate reload for the primary (SIGHUP, the admin API): every worker loads its certificate files
 * again and swaps the contexts new handshakes get. Open connections keep theirs: nothing is dropped. A
 * file that fails to load keeps the previous certificate in that worker and is reported.
 */
import type { ControlResult } from '../server/workers.ts';
import type { ReloadResult } from './certificates.ts';

/** What `reloadCertificates` needs of a running server (`RunningServer` has it). */
export interface ControlTarget {
  control(target: string, command: string, args?: unknown): Promise<ControlResult[]>;
}

/** Reload the certificates in every worker; resolves with the files loaded and the errors, deduplicated. */
export async function reloadCertificates(server: ControlTarget): Promise<ReloadResult> {
  const rows = await server.control('tls', 'reload');
  const reloaded = new Set<string>();
  const errors = new Set<string>();
  for (const row of rows) {
    if (row.error !== undefined) errors.add(`worker ${row.worker}: ${row.error}`);
    const result = row.result as ReloadResult | undefined;
    for (const file of result?.reloaded ?? []) reloaded.add(file);
    for (const error of result?.errors ?? []) errors.add(error);
  }
  return { reloaded: [...reloaded], errors: [...errors] };
}

/**
 * The `tls` control target every worker answers (`control('tls', command)`): `reload` loads the
 * certificate files again (what SIGHUP and the admin API call), `stats` returns the protocol counters,
 * `certificates` lists each certificate's names and expiry.
 */
import type { Listeners } from './listeners.ts';

/** Answer a `tls` control command of one worker. */
export function tlsControl(listeners: Listeners, command: string): unknown {
  switch (command) {
    case 'reload':
      return listeners.reloadCertificates(true) ?? { reloaded: [], errors: [] };
    case 'stats':
      return listeners.counters.snapshot();
    case 'certificates':
      return listeners.certificates();
    default:
      throw new Error(`unknown tls command "${command}" (reload, stats, certificates)`);
  }
}

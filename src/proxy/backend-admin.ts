/**
 * Backends taken out of (and put back into) rotation by an operator at run time, through the admin API:
 * drain (no new requests, those in flight finish), disable (the same, and its idle keep-alive connections
 * close at once) and enable. The decision is the backend's {@link AdminState}; a reload carries it over
 * with the rest of the backend's state (`Backend.adopt`), so a drained backend stays drained.
 */
import type { AdminState, Backend } from './backend.ts';
import type { ProxyRoute } from './routes.ts';

/** The admin actions, as the API names them. */
export const BACKEND_ACTIONS = ['drain', 'disable', 'enable'] as const;
export type BackendAction = (typeof BACKEND_ACTIONS)[number];

const STATE_OF: Readonly<Record<BackendAction, AdminState>> = {
  drain: 'draining',
  disable: 'disabled',
  enable: 'enabled',
};

/** Which backends an action applies to: every backend with `url`, or only the one of route `route`. */
export interface BackendCommand {
  action: BackendAction;
  url: string;
  route?: number;
}

/** One backend an action changed (or found already in that state). */
export interface BackendChange {
  route: number;
  url: string;
  from: AdminState;
  to: AdminState;
  inFlight: number;
}

/** Whether `value` is a well-formed {@link BackendCommand} (control calls carry plain data). */
export function isBackendCommand(value: unknown): value is BackendCommand {
  const command = value as Partial<BackendCommand> | null;
  return (
    typeof command === 'object' &&
    command !== null &&
    BACKEND_ACTIONS.includes(command.action as BackendAction) &&
    typeof command.url === 'string' &&
    (command.route === undefined || Number.isInteger(command.route))
  );
}

/**
 * Apply `command` to the matching backends of `routes`; the changes made, empty when no backend matches.
 * A backend shared by several routes (the same URL) is one backend to an operator: without `route`, all
 * of them change. A named upstream's backend is one object for all its routes: `route` changes it for each.
 */
export function applyBackendCommand(routes: readonly ProxyRoute[], command: BackendCommand): BackendChange[] {
  const to = STATE_OF[command.action];
  const changes: BackendChange[] = [];
  const url = normaliseUrl(command.url);
  // Routes that share a named upstream share its Backend objects: each changes once.
  const seen = new Set<Backend>();
  for (const route of routes) {
    if (command.route !== undefined && route.index !== command.route) continue;
    for (const backend of route.backends) {
      if (backend.url !== url || seen.has(backend)) continue;
      seen.add(backend);
      const from = backend.admin;
      backend.admin = to;
      if (to === 'disabled') route.pools[backend.index]?.closeIdle();
      changes.push({ route: route.index, url: backend.url, from, to, inFlight: backend.inFlight });
    }
  }
  return changes;
}

/** `http://H:80/` and `http://h` name the same backend: compared as configured URLs are stored. */
function normaliseUrl(url: string): string {
  try {
    return `http://${new URL(url).host}`;
  } catch {
    return url;
  }
}

// What the dashboard's modules share: the page's state (what the stream brought, which plugins run, the
// token) and the admin API client.

export const $ = (id) => document.getElementById(id);

/** Seconds the charts show. */
export const WINDOW_SECONDS = 300;

export const state = {
  /** The admin token: from /api/session on loopback, else typed in by the user (kept for this tab). */
  token: sessionStorage.getItem('tamarin-admin-token'),
  /** Which plugins run (from /api/session): their tables and charts are shown and polled only then. */
  cacheOn: true,
  proxyOn: false,
  tlsOn: false,
  capacity: { bytes: 0, entries: null },
  /** Points by unix second (see `Point` in src/admin/live.ts). */
  points: new Map(),
  /** Latency bucket upper bounds in seconds (from the history frame); the last bucket is +Inf. */
  latencyBounds: [],
  /**
   * The proxy's backends: the routes with their URLs (`LiveRoute`), the list's version, the flattened
   * names the per-second arrays index, those seconds by `t`, and the newest one.
   */
  backends: { version: -1, routes: [], names: [], seconds: new Map(), now: null },
  /** Connections by protocol and TLS version (`ProtocolStatsSnapshot`), as the stream last sent them. */
  protocols: null,
  /** The latest stats snapshot, and its time (shown while reconnecting). */
  latest: null,
  lastLive: null,
};

export const headers = (extra) => {
  const h = { accept: 'application/json', ...extra };
  if (state.token) h.authorization = `Bearer ${state.token}`;
  return h;
};
/** Ask the admin whether a token is needed; on loopback it hands the page its (current) token. */
export async function refreshSession() {
  const res = await fetch('/api/session', { headers: headers(), cache: 'no-store' });
  const session = await res.json();
  if (session.token) state.token = session.token;
  if (session.cache !== undefined) state.cacheOn = session.cache;
  if (session.proxy !== undefined) state.proxyOn = session.proxy;
  if (session.tls !== undefined) state.tlsOn = session.tls;
  $('entries-card').hidden = !state.cacheOn;
  $('bans-card').hidden = !(state.cacheOn && state.proxyOn);
  $('backends-card').hidden = !state.proxyOn;
  $('tls-card').hidden = !state.tlsOn;
  return session;
}

export async function api(method, path) {
  // A mutating call reads the session first: the admin may have restarted with a new generated token
  // since the page last asked, and a refused call would show in the console even when retried.
  if (method !== 'GET') await refreshSession().catch(() => {});
  const res = await fetch(path, { method, headers: headers(), cache: 'no-store' });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) showLogin(body.message);
  if (!res.ok) throw new Error(body.message || `${res.status} ${res.statusText}`);
  return body;
}

export function showLogin(message) {
  $('login').hidden = false;
  $('login-error').textContent = message || '';
}

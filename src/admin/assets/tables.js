// The dashboard's tables and their controls: cache entries (search, pages, purge, clear with a typed
// confirmation), proxy backends (live rates, drain/disable/enable) and the configuration.
import { bytes, clock, count, duration, rate } from './format.js';
import { $, api, headers, state } from './state.js';

/** Rows a page of the entries table. */
const PAGE_SIZE = 15;

/** A table row of `[text, class]` cells. */
function tableRow(cells) {
  const tr = document.createElement('tr');
  for (const [text, cls, title] of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    td.className = cls;
    if (title) td.title = title;
    tr.append(td);
  }
  return tr;
}

/** Replace `body`'s rows with one message spanning `columns` (an empty table, a failed load). */
function messageRow(body, columns, text) {
  const tr = document.createElement('tr');
  const td = document.createElement('td');
  td.colSpan = columns;
  td.className = 'empty';
  td.textContent = text;
  tr.append(td);
  body.replaceChildren(tr);
}

function button(text, title, onClick, cls = 'small') {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = cls;
  b.textContent = text;
  b.title = title;
  b.setAttribute('aria-label', title);
  b.addEventListener('click', onClick);
  return b;
}

// ---- cache entries ----
const entriesView = { sort: 'hits', q: '', offset: 0, total: 0 };

/**
 * An entry's host as an operator reads it: a key that starts with "/" was stored without its host (no
 * `[static.hosts]`) and answers every host; the host recorded is only the first one that asked.
 */
function entryHost(entry) {
  if (entry.key.startsWith('/'))
    return ['any host', 'host any', `stored for any host (first asked as ${entry.host})`];
  return [entry.host || '–', 'host', entry.host];
}

function entryRow(entry) {
  const source = entry.file !== null ? 'file' : 'proxied';
  const tr = tableRow([
    entryHost(entry),
    [entry.path, 'path', entry.key],
    [bytes(entry.size), 'num'],
    [count(entry.hits), 'num'],
    [duration(entry.ageMs), 'num'],
    [entry.expiresInMs === null ? 'never' : duration(entry.expiresInMs), 'num'],
    [source, 'source', entry.file ?? undefined],
  ]);
  tr.dataset.host = entry.host;
  tr.dataset.path = entry.path;
  tr.dataset.source = source;
  // A phone shows the host above the path, in the path's cell (see dashboard.css).
  tr.cells[1].dataset.host = tr.cells[0].textContent;
  const td = document.createElement('td');
  td.className = 'actions';
  td.append(
    button('Purge', `Purge ${entry.host}${entry.path}`, () => purge({ path: entry.path, host: entry.host })),
  );
  tr.append(td);
  return tr;
}

export async function loadEntries() {
  if (!state.cacheOn) return;
  const body = $('entries');
  const { sort, q, offset } = entriesView;
  const query = new URLSearchParams({ sort, limit: String(PAGE_SIZE), offset: String(offset) });
  if (q) query.set('q', q);
  try {
    const result = await api('GET', `/api/cache/entries?${query}`);
    // A search typed while this one ran: its own load draws the table.
    if (q !== entriesView.q || sort !== entriesView.sort || offset !== entriesView.offset) return;
    entriesView.total = result.total;
    body.replaceChildren(...result.entries.map(entryRow));
    body.dataset.count = String(result.entries.length);
    if (result.entries.length === 0)
      messageRow(body, 8, q ? `Nothing matches “${q}”.` : 'The cache is empty.');
    const first = result.entries.length === 0 ? 0 : offset + 1;
    $('page-info').textContent =
      `${count(first)}–${count(offset + result.entries.length)} of ${count(result.total)}`;
    $('page-prev').disabled = offset === 0;
    $('page-next').disabled = offset + PAGE_SIZE >= result.total;
  } catch (error) {
    // While the admin is unreachable the rows stay, faded with the rest (see setConnection).
    if ($('conn').dataset.state === 'down') return;
    messageRow(body, 8, error.message);
    body.dataset.count = '0';
  }
}

function status(text) {
  $('action-status').textContent = text;
}

/** Purge with a filter `{ path | prefix | tag, host? }` (see DELETE /api/cache). */
async function purge(filter) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filter)) if (value) query.set(name, value);
  const what = filter.tag ? `tag ${filter.tag}` : `${filter.host ?? ''}${filter.path ?? `${filter.prefix}*`}`;
  try {
    const result = await api('DELETE', `/api/cache?${query}`);
    status(`Purged ${what}: ${count(result.removed)} entries, ${bytes(result.bytes)}.`);
  } catch (error) {
    status(`Purge of ${what} failed: ${error.message}`);
  }
  loadEntries();
}

function setSort(next) {
  entriesView.sort = next;
  entriesView.offset = 0;
  for (const b of document.querySelectorAll('[data-sort]')) {
    b.classList.toggle('on', b.dataset.sort === next);
    b.setAttribute('aria-pressed', String(b.dataset.sort === next));
  }
  loadEntries();
}

// ---- clear, with a typed confirmation ----
const CONFIRM_WORD = 'clear';
function confirmClear() {
  $('confirm-input').value = '';
  $('confirm-ok').disabled = true;
  $('confirm-hint').textContent = '';
  $('confirm').showModal();
  // Focus on the empty field: Enter there does nothing until the word is typed.
  $('confirm-input').focus();
}

async function clearCache() {
  $('confirm').close();
  try {
    const result = await api('DELETE', '/api/cache');
    status(`Cache cleared: ${count(result.removed)} entries, ${bytes(result.bytes)} removed.`);
  } catch (error) {
    status(`Clear failed: ${error.message}`);
  }
  entriesView.offset = 0;
  loadEntries();
}

// ---- proxy backends ----
/** The last backends answer, to redraw the live rates without asking again. */
let backendRoutes = [];

function liveRates(route, url) {
  const i = state.backends.names.findIndex((n) => n.route === route && n.url === url);
  if (i === -1 || !state.backends.now) return null;
  return { r: state.backends.now.r[i], e: state.backends.now.e[i], l: state.backends.now.l[i] };
}

function backendRow(route, backend) {
  // Patterns as written: a RegExp's source escapes "/".
  const where = `${route.host ? `${route.host} ` : ''}${route.match.join(' ').replaceAll('\\/', '/')}`;
  const live = liveRates(route.route, backend.url);
  const latency = live ? live.l : backend.latencyEwmaMs;
  const tr = tableRow([
    [where, 'path'],
    [backend.url, 'path'],
    [backend.state, `state ${backend.state}`],
    [live ? rate(live.r) : '–', 'num'],
    [live ? rate(live.e) : '–', 'num'],
    [latency > 0 ? `${latency.toFixed(1)} ms` : '–', 'num'],
    [count(backend.inFlight), 'num'],
    [count(backend.requests), 'num'],
    [count(backend.failures), 'num'],
    [backend.lastError ?? '', 'error-text'],
  ]);
  tr.dataset.url = backend.url;
  tr.dataset.route = String(route.route);
  tr.dataset.state = backend.state;
  tr.dataset.admin = backend.admin ?? 'enabled';
  tr.dataset.requests = String(backend.requests);
  const td = document.createElement('td');
  td.className = 'actions';
  const act = (action) => () => backendAction(action, route.route, backend.url);
  // Drain and disable while it takes traffic, enable once an operator took it out.
  if ((backend.admin ?? 'enabled') === 'enabled') {
    td.append(button('Drain', `Drain ${backend.url} (route ${route.route})`, act('drain')));
    td.append(button('Disable', `Disable ${backend.url} (route ${route.route})`, act('disable')));
  } else td.append(button('Enable', `Enable ${backend.url} (route ${route.route})`, act('enable')));
  tr.append(td);
  return tr;
}

function drawBackendTable() {
  const body = $('backends');
  const rows = backendRoutes.flatMap((route) => route.backends.map((b) => backendRow(route, b)));
  // Keep keyboard focus on the same control across the redraw (the table is rebuilt every few seconds).
  const focused = document.activeElement?.closest?.('#backends tr');
  const focusKey = focused ? `${focused.dataset.route} ${focused.dataset.url}` : null;
  const focusLabel = document.activeElement?.getAttribute?.('aria-label')?.split(' ')[0];
  body.replaceChildren(...rows);
  body.dataset.count = String(rows.length);
  if (focusKey) {
    const row = rows.find((r) => `${r.dataset.route} ${r.dataset.url}` === focusKey);
    const again = [...(row?.querySelectorAll('button') ?? [])].find((b) => b.textContent === focusLabel);
    (again ?? row?.querySelector('button'))?.focus();
  }
}

/** New live rates: redraw the rate cells only (a full redraw each second would fight the mouse). */
export function refreshBackendRates() {
  for (const tr of $('backends').rows) {
    if (!tr.dataset.url) continue;
    const live = liveRates(Number(tr.dataset.route), tr.dataset.url);
    if (!live) continue;
    tr.cells[3].textContent = rate(live.r);
    tr.cells[4].textContent = rate(live.e);
    tr.cells[5].textContent = live.l > 0 ? `${live.l.toFixed(1)} ms` : '–';
  }
}

export async function loadBackends() {
  if (!state.proxyOn) return;
  try {
    backendRoutes = (await api('GET', '/api/proxy/backends')).routes;
    drawBackendTable();
  } catch (error) {
    if ($('conn').dataset.state === 'down') return;
    messageRow($('backends'), 11, error.message);
    $('backends').dataset.count = '0';
  }
}

async function backendAction(action, route, url) {
  const query = new URLSearchParams({ url, route: String(route) });
  try {
    const result = await api('POST', `/api/proxy/backends/${action}?${query}`);
    const change = result.backends[0];
    $('backend-status').textContent =
      `${url} (route ${route}): ${change ? `${change.from} → ${change.to}` : action}` +
      (result.inFlight > 0 ? `, ${count(result.inFlight)} requests still in flight` : '');
  } catch (error) {
    $('backend-status').textContent = `${action} ${url} failed: ${error.message}`;
  }
  loadBackends();
}

// ---- configuration ----
export async function loadConfig() {
  try {
    const res = await fetch('/api/config', { headers: headers(), cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.message || `${res.status} ${res.statusText}`);
    $('config').textContent = JSON.stringify(body, null, 2);
    // Last-Modified: when the server loaded this configuration (start-up or the last reload).
    const at = Date.parse(res.headers.get('last-modified') ?? '');
    if (!Number.isNaN(at)) {
      $('config-loaded').textContent = `loaded ${clock(at)} (${duration(Date.now() - at)} ago)`;
      $('config-loaded').dataset.loadedAt = new Date(at).toISOString();
    }
  } catch (error) {
    $('config').textContent = error.message;
  }
}

/** Attach the tables' controls. */
export function wireTables() {
  for (const b of document.querySelectorAll('[data-sort]')) {
    b.addEventListener('click', () => setSort(b.dataset.sort));
  }
  let searchTimer = null;
  $('entries-search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    // Wait for a pause in typing: one search per word, not per key.
    searchTimer = setTimeout(() => {
      entriesView.q = $('entries-search').value.trim();
      entriesView.offset = 0;
      loadEntries();
    }, 250);
  });
  $('page-prev').addEventListener('click', () => {
    entriesView.offset = Math.max(0, entriesView.offset - PAGE_SIZE);
    loadEntries();
  });
  $('page-next').addEventListener('click', () => {
    entriesView.offset += PAGE_SIZE;
    loadEntries();
  });
  $('purge-kind').addEventListener('change', () => {
    const kind = $('purge-kind').value;
    // Tags name proxied responses whatever their host: no host field for them.
    $('purge-host-label').hidden = kind === 'tag';
    $('purge-value').placeholder = { path: '/img/logo.png', prefix: '/img/', tag: 'product-42' }[kind];
  });
  $('purge-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const kind = $('purge-kind').value;
    const value = $('purge-value').value.trim();
    const host = kind === 'tag' ? '' : $('purge-host').value.trim();
    if (value === '') return;
    purge({ [kind]: value, host });
  });
  $('clear').addEventListener('click', confirmClear);
  $('confirm-input').addEventListener('input', () => {
    $('confirm-ok').disabled = $('confirm-input').value.trim() !== CONFIRM_WORD;
  });
  const typed = () => $('confirm-input').value.trim() === CONFIRM_WORD;
  const hint = () => {
    $('confirm-hint').textContent = `Type “${CONFIRM_WORD}” first, or press Escape to cancel.`;
  };
  // With the button disabled the browser does not submit on Enter; say what is missing instead.
  $('confirm-input').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !typed()) {
      event.preventDefault();
      hint();
    }
  });
  $('confirm-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (typed()) clearCache();
    else hint();
  });
  $('confirm-cancel').addEventListener('click', () => $('confirm').close());
}

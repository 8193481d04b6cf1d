// Bans: the expressions pending in the cache (each worker keeps its own list; the admin adds a ban to
// every worker in the same order), and a form to add one. A ban removes the proxied responses stored
// before it that match, as they are looked up or swept.
import { count, duration } from './format.js';
import { $, api, state } from './state.js';

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A ban as Varnish writes one: `req.url ~ ^/img/ && obj.http.content-type ~ png`. */
export function banExpression(ban) {
  const parts = [];
  if (ban.url !== undefined) parts.push(`req.url ~ ${ban.url}`);
  if (ban.host !== undefined) parts.push(`req.http.host ~ ${ban.host}`);
  if (ban.field !== undefined) parts.push(`obj.http.${ban.field} ~ ${ban.value}`);
  return parts.join(' && ');
}

/** Every worker's bans as one list: the same ban (id and expression) once, its removals summed. */
function mergeBans(workers) {
  const byKey = new Map();
  for (const { worker, bans } of workers) {
    for (const ban of bans) {
      const key = `${ban.id} ${banExpression(ban)}`;
      const seen = byKey.get(key);
      if (seen === undefined) byKey.set(key, { ...ban, workers: [worker] });
      else {
        seen.removed += ban.removed;
        seen.created = Math.min(seen.created, ban.created);
        seen.workers.push(worker);
      }
    }
  }
  return [...byKey.values()].sort((a, b) => a.created - b.created || a.id - b.id);
}

function banRow(ban, workers) {
  const tr = document.createElement('tr');
  tr.dataset.expression = banExpression(ban);
  tr.dataset.removed = String(ban.removed);
  const cells = [
    [banExpression(ban), 'path expression'],
    [duration(Date.now() - ban.created), 'num'],
    [count(ban.removed), 'num'],
    [ban.workers.length === workers ? 'all' : ban.workers.join(', '), 'num'],
  ];
  for (const [text, cls] of cells) tr.append(el('td', cls, text));
  return tr;
}

/** Bans are over proxied responses: the section shows when the cache and the proxy run. */
export async function loadBans() {
  const shown = state.cacheOn && state.proxyOn;
  $('bans-card').hidden = !shown;
  if (!shown) return;
  const body = $('bans');
  try {
    const result = await api('GET', '/api/cache/bans');
    const bans = mergeBans(result.workers);
    body.replaceChildren(...bans.map((b) => banRow(b, result.workers.length)));
    body.dataset.count = String(bans.length);
    if (bans.length === 0) {
      const tr = document.createElement('tr');
      const td = el('td', 'empty', 'No ban pending.');
      td.colSpan = 4;
      tr.append(td);
      body.replaceChildren(tr);
    }
  } catch (error) {
    if ($('conn').dataset.state === 'down') return;
    $('ban-status').textContent = error.message;
  }
}

/** Add the ban the form describes; the API's reason is shown when it refuses it. */
async function addBan(event) {
  event.preventDefault();
  const query = new URLSearchParams();
  for (const name of ['url', 'host', 'field', 'value']) {
    const value = $(`ban-${name}`).value.trim();
    if (value !== '') query.set(name, value);
  }
  const out = $('ban-status');
  out.classList.remove('error');
  try {
    const result = await api('POST', `/api/cache/bans?${query}`);
    const removed = result.removed ?? result.banned;
    out.textContent =
      `Ban added: ${banExpression(result.ban ?? {})}` +
      (removed === undefined ? '.' : `, ${count(removed)} entries removed so far.`);
    for (const name of ['url', 'host', 'field', 'value']) $(`ban-${name}`).value = '';
  } catch (error) {
    out.textContent = `Ban refused: ${error.message}`;
    out.classList.add('error');
  }
  loadBans();
}

export function wireBans() {
  $('ban-form').addEventListener('submit', addBan);
}

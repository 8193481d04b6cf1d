// Plugin panels: each running plugin may name figures of its part of /api/stats (its `panel` in the admin
// contract, listed by /api/panels). The page shows them without knowing the plugin: plain figures as a
// list, figures over a list (`routes.*.requests`) as a table with a row per element.
import { bytes, count, percent, seconds } from './format.js';
import { $, api, state } from './state.js';

const FORMATS = { number: count, ratio: percent, bytes, seconds };

/** The panels of the running plugins, fetched once per connection. */
let panels = [];

/** The value at a dotted path (`outcomes.hit`) of `root`; undefined where the path leads nowhere. */
function at(root, path) {
  let value = root;
  for (const key of path.split('.')) value = value == null ? undefined : value[key];
  return value;
}

/** A row's name: what the element calls itself, else its position. */
function elementName(element, i) {
  if (element && typeof element === 'object') {
    if (typeof element.name === 'string') return element.name;
    if (Array.isArray(element.match)) return element.match.join(' ').replaceAll('\\/', '/');
    if (typeof element.url === 'string') return element.url;
  }
  return `#${i}`;
}

function cell(tag, text, cls) {
  const el = document.createElement(tag);
  el.textContent = text;
  if (cls) el.className = cls;
  return el;
}

/** One panel: plain fields as label/value pairs, then the fields over a list as a table. */
function panelCard(panel, stats) {
  const card = document.createElement('section');
  card.className = 'panel';
  card.dataset.plugin = panel.plugin;
  card.append(cell('h3', panel.title));
  const show = (field, value) => (value === undefined ? '–' : (FORMATS[field.format] ?? count)(value));
  const plain = panel.fields.filter((f) => !f.path.includes('*'));
  const listed = panel.fields.filter((f) => f.path.includes('*'));
  if (plain.length > 0) {
    const list = document.createElement('dl');
    for (const field of plain)
      list.append(cell('dt', field.label), cell('dd', show(field, at(stats, field.path))));
    card.append(list);
  }
  // Fields over one list share its rows (`routes.*.x` and `routes.*.y`: one row per route).
  const listPath = listed[0]?.path.split('.*.')[0];
  const rows = listPath === undefined ? [] : (at(stats, listPath) ?? []);
  if (listed.length > 0 && Array.isArray(rows)) {
    const table = document.createElement('table');
    const head = document.createElement('tr');
    head.append(cell('th', ''), ...listed.map((f) => cell('th', f.label, 'num')));
    const body = rows.map((element, i) => {
      const tr = document.createElement('tr');
      tr.append(cell('td', elementName(element, i), 'path'));
      for (const field of listed)
        tr.append(cell('td', show(field, at(element, field.path.split('.*.')[1])), 'num'));
      return tr;
    });
    table.append(cell('thead', ''), document.createElement('tbody'));
    table.tHead.append(head);
    table.tBodies[0].append(...body);
    const wrap = document.createElement('div');
    wrap.className = 'table-wrap';
    wrap.append(table);
    card.append(wrap);
  }
  return card;
}

/** Ask which panels the running plugins have (on each connection: a reload may change the plugins). */
export async function loadPanels() {
  try {
    panels = (await api('GET', '/api/panels')).panels;
  } catch {
    panels = [];
  }
  $('panels-card').hidden = panels.length === 0;
  refreshPanels();
}

/** Fill the panels from /api/stats: only while they are open (the answer is larger than the stream's). */
export async function refreshPanels() {
  if (panels.length === 0 || !$('panels-details').open || state.latest === null) return;
  try {
    const stats = await api('GET', '/api/stats');
    $('panels').replaceChildren(...panels.map((p) => panelCard(p, stats[p.stats])));
    $('panels').dataset.count = String(panels.length);
  } catch {
    // The connection indicator says why; the panels keep their last figures.
  }
}

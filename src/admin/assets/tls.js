// TLS: the certificates the listeners serve (names, issuer, expiry, where they come from) and the
// connections and requests by protocol. Shown only when the server has a [tls] table (/api/session).
import { count, percent } from './format.js';
import { $, api, state } from './state.js';

/** Days left under which a certificate is flagged (ACME renews 30 days before expiry). */
const WARN_DAYS = 14;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function certificateRow(cert) {
  const tr = document.createElement('tr');
  const soon = cert.daysLeft < WARN_DAYS;
  tr.className = soon ? 'expiring' : '';
  tr.dataset.names = cert.names.join(' ');
  tr.dataset.daysLeft = String(cert.daysLeft);
  tr.dataset.source = cert.source ?? 'file';
  const days = cert.daysLeft < 0 ? `expired ${count(-cert.daysLeft)} d ago` : `${count(cert.daysLeft)} d`;
  const cells = [
    [
      cert.names.join(', ') + (cert.isDefault ? ' (default)' : ''),
      'names',
      `${cert.subject}, issued by ${cert.issuer}, valid until ${cert.notAfter}`,
    ],
    [cert.issuer, 'path'],
    [cert.notAfter.slice(0, 10), 'num', cert.notAfter],
    [days, soon ? 'num warn' : 'num'],
    [cert.source ?? 'file', 'source', cert.certFile],
  ];
  for (const [text, cls, title] of cells) {
    const td = el('td', cls, text);
    if (title) td.title = title;
    tr.append(td);
  }
  return tr;
}

/** Ask for the certificates (on each connection and every minute: they change on reload or renewal). */
export async function loadCertificates() {
  $('tls-card').hidden = !state.tlsOn;
  if (!state.tlsOn) return;
  const body = $('certificates');
  try {
    const { certificates } = await api('GET', '/api/tls/certificates');
    body.replaceChildren(...certificates.map(certificateRow));
    body.dataset.count = String(certificates.length);
    $('tls-expiring').hidden = !certificates.some((c) => c.daysLeft < WARN_DAYS);
  } catch (error) {
    if ($('conn').dataset.state === 'down') return;
    const tr = document.createElement('tr');
    const td = el('td', 'empty', error.message);
    td.colSpan = 5;
    tr.append(td);
    body.replaceChildren(tr);
  }
}

/** One figure with the share of its whole as a bar. */
function share(label, n, whole, key) {
  const row = el('div', 'share');
  row.dataset.key = key;
  row.dataset.value = String(n);
  const bar = el('span', 'meter');
  const fill = el('span', 'fill');
  fill.style.width = `${whole > 0 ? (n / whole) * 100 : 0}%`;
  bar.append(fill);
  row.append(
    el('span', 'name', label),
    bar,
    el('span', 'num', count(n)),
    el('span', 'pct', percent(whole > 0 ? n / whole : null)),
  );
  return row;
}

/**
 * Connections by protocol and TLS version, requests by protocol (HTTP/2 streams against the rest) and
 * handshake failures, since start. `protocols` is the stream's latest (sent when it changed); `requests`
 * every request the server answered.
 */
export function drawProtocols(protocols, requests) {
  if (!state.tlsOn || !protocols) return;
  const { connections, tlsVersions, h2Streams, tlsErrors } = protocols;
  const total = connections.h1 + connections.h2;
  const tls = Object.values(tlsVersions).reduce((a, b) => a + b, 0);
  const h1Requests = Math.max(0, requests - h2Streams);
  const groups = [
    [
      'Connections',
      [
        share('HTTP/1.x', connections.h1, total, 'conn-h1'),
        share('HTTP/2', connections.h2, total, 'conn-h2'),
      ],
    ],
    [
      'Connections by TLS',
      [
        ...Object.entries(tlsVersions).map(([version, n]) => share(version, n, total, `tls-${version}`)),
        share('plain', Math.max(0, total - tls), total, 'plain'),
      ],
    ],
    [
      'Requests',
      [share('HTTP/1.x', h1Requests, requests, 'req-h1'), share('HTTP/2', h2Streams, requests, 'req-h2')],
    ],
  ];
  const failed = tlsErrors.plain_http + tlsErrors.timeout + tlsErrors.other;
  const box = $('protocols');
  const grid = el('div', 'share-groups');
  grid.append(
    ...groups.map(([title, rows]) => {
      const group = el('div', 'share-group');
      group.append(el('h3', '', title), ...rows);
      return group;
    }),
  );
  box.replaceChildren(
    grid,
    el(
      'p',
      'meta',
      `Handshakes failed: ${count(failed)} (plain HTTP on the TLS port ${count(tlsErrors.plain_http)}, ` +
        `timed out ${count(tlsErrors.timeout)}, other ${count(tlsErrors.other)})`,
    ),
  );
  box.dataset.connections = String(total);
}

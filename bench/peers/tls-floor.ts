/**
 * The floor of what Node.js itself costs for the tls scenario: `node:tls` with ALPN, HTTP/2 sessions of
 * `node:http2` answering every stream with the same fields and 1 KiB body as a Tamarin cache hit (flat
 * header list, `Date` rebuilt once a second), and HTTP/1.1 answered by one pre-built write per request
 * head, without any parsing. No server can do less per request on these modules: what Tamarin costs above
 * it is ours, what this costs above nginx is Node's. Options: `--port`, `--cert`, `--key` (PEM files).
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { createServer, type TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || values.cert === undefined || values.key === undefined) {
  process.stderr.write('tls-floor: --port <n> --cert <pem> --key <pem>\n');
  process.exit(2);
}

const body = Buffer.alloc(1024, 'a');
const FIELDS = [
  ['content-type', 'text/plain; charset=utf-8'],
  ['content-length', '1024'],
  ['last-modified', 'Thu, 01 Jan 2026 00:00:00 GMT'],
  ['etag', '"400-19b76d3a800"'],
  ['accept-ranges', 'bytes'],
  ['vary', 'Accept-Encoding'],
];
let date = '';
let h2Fields: string[] = [];
let h1Response = Buffer.alloc(0);
/** Rebuilds both answers once a second so `Date` stays right, as a server's date cache does. */
function build(): void {
  date = new Date().toUTCString();
  h2Fields = [':status', '200', ...FIELDS.flat(), 'date', date];
  const head = `HTTP/1.1 200 OK\r\n${FIELDS.map(([n, v]) => `${n}: ${v}\r\n`).join('')}date: ${date}\r\n\r\n`;
  h1Response = Buffer.concat([Buffer.from(head, 'latin1'), body]);
}
build();
setInterval(build, 1000).unref();

const sessions = http2.createServer({ settings: { maxConcurrentStreams: 128 } });
sessions.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  if (headers[':method'] === 'HEAD') {
    stream.respond(h2Fields, { endStream: true });
    return;
  }
  stream.respond(h2Fields);
  stream.end(body);
});

const HEAD_END = Buffer.from('\r\n\r\n');
const server = createServer(
  {
    cert: readFileSync(values.cert),
    key: readFileSync(values.key),
    ALPNProtocols: ['h2', 'http/1.1'],
  },
  (socket: TLSSocket) => {
    socket.setNoDelay(true);
    if (socket.alpnProtocol === 'h2') {
      sessions.emit('connection', socket);
      return;
    }
    socket.on('error', () => {});
    // One answer per request head; a head split across reads is rare enough to ignore for a floor.
    socket.on('data', (chunk: Buffer) => {
      for (let at = chunk.indexOf(HEAD_END); at !== -1; at = chunk.indexOf(HEAD_END, at + 4))
        socket.write(h1Response);
    });
  },
);
server.listen(port, '127.0.0.1', () => process.stdout.write(`tls-floor listening on ${port}\n`));

/**
 * The proxy scenarios' origin: a raw `node:net` server that answers every request head with one
 * pre-built response (status line, headers, body) in a single write, so the backend is never the
 * bottleneck (DESIGN.md measured this shape at nginx parity). Bodies of requests are not expected (the
 * benchmark only sends GET). Options: `--port`, `--size` (body bytes, default 1024), `--cache-control`
 * (header value; omitted when empty).
 */
import { createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    size: { type: 'string', default: '1024' },
    'cache-control': { type: 'string', default: '' },
  },
});
const port = Number(values.port);
const size = Number(values.size);
if (!Number.isInteger(port) || port <= 0 || !Number.isInteger(size) || size < 0) {
  process.stderr.write('raw-backend: --port <n> [--size <bytes>] [--cache-control <value>]\n');
  process.exit(2);
}

const body = Buffer.alloc(size, 'x');
let response = Buffer.alloc(0);
/** Rebuilds the response once a second so `Date` stays right (caches compute `Age` from it). */
function build(): void {
  const head =
    'HTTP/1.1 200 OK\r\n' +
    `Date: ${new Date().toUTCString()}\r\n` +
    'Content-Type: text/plain\r\n' +
    `Content-Length: ${size}\r\n` +
    (values['cache-control'] ? `Cache-Control: ${values['cache-control']}\r\n` : '') +
    '\r\n';
  response = Buffer.concat([Buffer.from(head, 'latin1'), body]);
}
build();
setInterval(build, 1000).unref();

const CLOSE = /\r\nconnection:\s*close\r\n/i;
const CR = 13;
const LF = 10;

createServer({ noDelay: true }, (socket: Socket) => {
  // Count complete request heads (CRLF CRLF) across chunk boundaries; pipelined heads get one answer each.
  let matched = 0;
  socket.on('data', (chunk: Buffer) => {
    let heads = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte === CR) matched = matched === 2 ? 3 : 1;
      else if (byte === LF && (matched === 1 || matched === 3)) {
        matched++;
        if (matched === 4) {
          heads++;
          matched = 0;
        }
      } else matched = 0;
    }
    if (heads === 1) socket.write(response);
    else if (heads > 1) socket.write(Buffer.concat(new Array<Buffer>(heads).fill(response)));
    // The string and the regexp only when the bytes can say "close" at all (the benchmark never does).
    if (
      heads > 0 &&
      (chunk.includes('lose') || chunk.includes('LOSE')) &&
      CLOSE.test(chunk.toString('latin1'))
    )
      socket.end();
  });
  socket.on('error', () => socket.destroy());
}).listen(port, '127.0.0.1', () => {
  process.stdout.write(`raw-backend listening on http://127.0.0.1:${port}\n`);
});

/**
 * Test helpers for anything served by the engine: send raw bytes over a socket and split the byte stream
 * that comes back into responses. Deliberately independent of our own parser, so a parser bug cannot hide
 * behind itself.
 */
import * as net from 'node:net';

/** Options of {@link rawRequest}. */
export interface RawRequestOptions {
  /** Give up and return what arrived so far after this long. @default 2000 */
  timeoutMs?: number;
  /** Host to connect to. @default '127.0.0.1' */
  host?: string;
  /** End our side after sending (half-close). @default false */
  halfClose?: boolean;
}

/**
 * Send `bytes` (several requests may be pipelined in them) and collect everything the server sends until
 * it closes the connection or `timeoutMs` passes.
 */
export function rawRequest(
  port: number,
  bytes: Buffer | string,
  options: RawRequestOptions = {},
): Promise<Buffer> {
  const timeoutMs = options.timeoutMs ?? 2000;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, options.host ?? '127.0.0.1');
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(finish, timeoutMs);
    timer.unref();
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', finish);
    socket.write(bytes);
    if (options.halfClose) socket.end();
  });
}

/** One response split out of a byte stream. */
export interface RawResponse {
  status: number;
  reason: string;
  /** Field names lower-cased; repeated fields joined with `, `. */
  headers: Record<string, string>;
  /** The head as received (status line and fields, without the final blank line). */
  head: string;
  /** The body with chunked framing removed. */
  body: Buffer;
}

/** Options of {@link parseResponses}. */
export interface ParseResponsesOptions {
  /** Method of each request in order, so that HEAD responses are known to have no body. */
  methods?: readonly string[];
}

/**
 * Split a byte stream of responses into status, headers and body. 1xx interim responses appear as their own
 * entries (they do not consume a method from `methods`). A body without framing runs to the end of the
 * stream. Throws on bytes that are not a response.
 */
export function parseResponses(buf: Buffer, options: ParseResponsesOptions = {}): RawResponse[] {
  const out: RawResponse[] = [];
  let off = 0;
  let index = 0;
  while (off < buf.length) {
    const headEnd = buf.indexOf('\r\n\r\n', off, 'latin1');
    if (headEnd === -1)
      throw new Error(`incomplete head at byte ${off}: ${JSON.stringify(buf.toString('latin1', off))}`);
    const head = buf.toString('latin1', off, headEnd);
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
    if (m === null) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`bad header line: ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : headers[name] + ', ' + value;
    }
    off = headEnd + 4;
    let body: Buffer = Buffer.alloc(0);
    const interim = status >= 100 && status < 200;
    const method = interim ? undefined : options.methods?.[index];
    if (!interim) index++;
    if (interim || method === 'HEAD' || status === 204 || status === 304) {
      // no body
    } else if (headers['transfer-encoding'] !== undefined) {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', off, 'latin1');
        if (lineEnd === -1) throw new Error('incomplete chunk size line');
        const size = Number.parseInt(buf.toString('latin1', off, lineEnd), 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size');
        off = lineEnd + 2;
        if (size === 0) {
          const trailerEnd = buf.indexOf('\r\n\r\n', off - 2, 'latin1');
          if (trailerEnd === -1) throw new Error('incomplete last chunk');
          off = trailerEnd + 4;
          break;
        }
        parts.push(buf.subarray(off, off + size));
        off += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (off + length > buf.length) throw new Error(`body shorter than Content-Length ${length}`);
      body = buf.subarray(off, off + length);
      off += length;
    } else {
      body = buf.subarray(off);
      off = buf.length;
    }
    out.push({ status, reason: m[2] ?? '', headers, head, body });
  }
  return out;
}

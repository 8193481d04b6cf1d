/**
 * A small HTTP client for the admin tests: `node:http` rather than fetch, because the tests must send
 * Host, Origin and Sec-Fetch-Site values that fetch refuses to set.
 */
import http from 'node:http';
import net from 'node:net';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON); the tests' assertions check its shape. */
  // biome-ignore lint/suspicious/noExplicitAny: API answers are checked field by field by the assertions
  json: any;
}

/** One request to `base` (`http://127.0.0.1:port/`), on a fresh connection. */
export function call(
  base: string,
  method: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const url = new URL(target, base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, headers: { connection: 'close', ...headers }, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${target}: no answer in 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET `path` from the main listener on a fresh connection (the kernel picks a worker each time). */
export function fetchFresh(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

/** One Server-Sent Events frame: its event name, its JSON data, its size on the wire. */
export interface EventFrame {
  event: string;
  // biome-ignore lint/suspicious/noExplicitAny: event payloads are checked field by field by the tests
  data: any;
  bytes: number;
}

/** A `data` handler for a text/event-stream body (utf8 chunks) that calls `onFrame` per complete frame. */
export function eventFrameReader(onFrame: (frame: EventFrame) => void): (chunk: string) => void {
  let buffer = '';
  return (chunk) => {
    buffer += chunk;
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const text = buffer.slice(0, end + 2);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      const event = /^event: (.*)$/m.exec(text)?.[1];
      const data = /^data: (.*)$/m.exec(text)?.[1];
      if (event !== undefined && data !== undefined) {
        onFrame({ event, data: JSON.parse(data), bytes: Buffer.byteLength(text) });
      }
    }
  };
}

/**
 * One request on a fresh connection, read to its end (`Connection: close`): with several worker threads
 * on one SO_REUSEPORT port, the kernel picks the worker for each request.
 */
import net from 'node:net';

export interface RawAnswer {
  status: number;
  /** Status line and fields, without the blank line. */
  head: string;
  body: Buffer;
}

export function freshRequest(
  port: number,
  method: string,
  target: string,
  fields: readonly string[] = [],
  host = 'x',
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => {
      const data = Buffer.concat(chunks);
      const end = data.indexOf('\r\n\r\n');
      const head = data.toString('latin1', 0, end);
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        body: data.subarray(end + 4),
      });
    });
    socket.on('error', reject);
    const extra = fields.map((f) => `${f}\r\n`).join('');
    socket.write(`${method} ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`);
  });
}

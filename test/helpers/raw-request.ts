/**
 * Requests that see the bytes as sent: no client-side decoding (fetch would undo a Content-Encoding under
 * test), one fresh connection each. And compressible text for bodies.
 */
import { request } from 'node:http';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request on its own connection; the body as received. */
export function rawRequest(
  url: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Text that compresses (and differs per seed, so no two entries could be confused). */
export function compressibleText(seed: string, bytes: number): string {
  let out = '';
  for (let i = 0; out.length < bytes; i++)
    out += `${seed} line ${i}: the quick brown fox jumps over the lazy dog\n`;
  return out.slice(0, bytes);
}

/**
 * In-memory stand-ins for the engine's HeaderList, Request and Response, so the static plugin's logic can
 * be tested without a socket. Test-only (excluded from the build by its `test-` prefix).
 */
import type { FileSource, HeaderList, HeaderValue, Request, Response } from '../http/types.ts';

/** A HeaderList over `[name, value]` pairs (names lower-cased like the engine does). */
export function fakeHeaders(pairs: Array<[string, string]> | Record<string, string> = []): HeaderList {
  const list = Array.isArray(pairs) ? pairs : Object.entries(pairs);
  const names = list.map(([name]) => name.toLowerCase());
  const values = list.map(([, value]) => value.trim());
  return {
    length: list.length,
    name: (i) => names[i]!,
    rawName: (i) => list[i]![0],
    value: (i) => values[i]!,
    get(name) {
      const i = names.indexOf(name);
      return i < 0 ? undefined : values[i];
    },
    getAll(name) {
      return values.filter((_, i) => names[i] === name);
    },
    getJoined(name) {
      const all = values.filter((_, i) => names[i] === name);
      return all.length === 0 ? undefined : all.join(', ');
    },
    has: (name) => names.includes(name),
  };
}

/** A Request with the fields the static plugin reads. */
export function fakeRequest(
  method: string,
  target: string,
  headers: Array<[string, string]> | Record<string, string> = {},
): Request {
  const q = target.indexOf('?');
  const headerList = fakeHeaders(headers);
  return {
    method,
    target,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? '' : target.slice(q + 1),
    versionMinor: 1,
    headers: headerList,
    host: (headerList.get('host') ?? '').toLowerCase().replace(/:\d+$/, ''),
    body: null,
    trailers: null,
    keepAlive: true,
    connection: {
      id: 1,
      remoteAddress: '127.0.0.1',
      remotePort: 1,
      localAddress: '127.0.0.1',
      localPort: 2,
      requestCount: 1,
    },
    startTime: 0,
  };
}

/** A Response that records what was set and written; `done` resolves when `end` is called. */
export interface FakeResponse extends Response {
  readonly body: Buffer;
  readonly done: Promise<void>;
  headersObject(): Record<string, string>;
}

export function fakeResponse(method = 'GET'): FakeResponse {
  const headers: Array<[string, HeaderValue]> = [];
  const chunks: Buffer[] = [];
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  let headersSent = false;
  let finished = false;
  const find = (name: string) => headers.findIndex(([n]) => n.toLowerCase() === name.toLowerCase());
  const res: FakeResponse = {
    statusCode: 200,
    statusMessage: '',
    get headersSent() {
      return headersSent;
    },
    get finished() {
      return finished;
    },
    aborted: false,
    get bodyBytes() {
      return chunks.reduce((n, c) => n + c.length, 0);
    },
    setHeader(name, value) {
      const i = find(name);
      if (i >= 0) headers[i] = [name, value];
      else headers.push([name, value]);
      return res;
    },
    getHeader: (name) => headers[find(name)]?.[1],
    hasHeader: (name) => find(name) >= 0,
    removeHeader(name) {
      const i = find(name);
      if (i >= 0) headers.splice(i, 1);
      return res;
    },
    headerEntries: () => headers,
    writeHead(status) {
      if (status !== undefined) res.statusCode = status;
      headersSent = true;
      return res;
    },
    write(chunk) {
      headersSent = true;
      if (method !== 'HEAD') chunks.push(Buffer.from(chunk));
      return true;
    },
    end(chunk) {
      if (chunk !== undefined) res.write(chunk);
      headersSent = true;
      finished = true;
      resolveDone();
    },
    onDrain: (callback) => queueMicrotask(callback),
    onAbort: () => {},
    sendPrebuilt: () => {
      throw new Error('not used by static');
    },
    destroy: () => {
      finished = true;
      resolveDone();
    },
    captureBody: () => {},
    capturedBody: null,
    file: null as FileSource | null,
    get body() {
      return Buffer.concat(chunks);
    },
    done,
    headersObject: () => Object.fromEntries(headers.map(([n, v]) => [n.toLowerCase(), String(v)])),
  };
  return res;
}

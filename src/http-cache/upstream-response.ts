/**
 * The `Response` the proxy forwards into when the cache needs to see an answer before the client does:
 * the proxy copies the backend's head onto it, the cache decides (relay to the client, or keep it to
 * itself: a 304 that refreshes a stored entry, a 5xx that a stale entry stands in for, a background
 * refresh with no client at all), and the body is relayed with the client's backpressure while a copy
 * is kept for the store (up to a size limit: past it the copy is dropped and streaming goes on).
 */
import type { FileSource, HeaderValue, InterimFields, ParsedHead, Response } from '../http/types.ts';

/** The cache's side of one forwarded exchange. */
export interface UpstreamHandler {
  /**
   * The backend's final head is on `up` (status, fields). Return the client to relay the response to, or
   * null to keep it (body still collected for the store).
   */
  onHead(up: UpstreamResponse): Response | null;
  /**
   * The exchange is over. `complete` false: it ended abnormally (must not be stored). `local`: no backend
   * answered; `up` holds the proxy's own error response (502/504) and nothing was relayed yet.
   */
  onEnd(up: UpstreamResponse, complete: boolean, local: boolean): void;
  /** `onEnd` threw (a bug): log it. */
  onError(error: unknown): void;
}

export class UpstreamResponse implements Response {
  statusCode = 200;
  statusMessage = '';
  /** True once the head was observed (the proxy then destroys rather than re-answers on a late error). */
  headersSent = false;
  finished = false;
  file: FileSource | null = null;
  capturedBody: Buffer | null = null;
  bodyBytes = 0;
  /** Epoch ms at which the request was handed to the proxy, and at which the head arrived. */
  readonly requestTime: number;
  responseTime = 0;
  /** The client the body is relayed to, once decided. */
  client: Response | null = null;
  /** The backend's head as parsed (its fields unfiltered), once it arrived. */
  head: ParsedHead | null = null;
  private readonly watch: Response | null;
  private readonly handler: UpstreamHandler;
  private readonly clock: () => number;
  private names: string[] = [];
  private values: HeaderValue[] = [];
  private parts: Buffer[] | null = [];
  private size = 0;
  private readonly limit: number;
  private ended = false;
  private reported = false;

  /**
   * @param watch the client whose departure aborts the upstream request (null for a background fetch)
   * @param limit largest body kept for the store; -1 keeps none
   */
  constructor(watch: Response | null, handler: UpstreamHandler, limit: number, clock: () => number) {
    this.watch = watch;
    this.handler = handler;
    this.limit = limit;
    this.clock = clock;
    this.requestTime = clock();
    if (limit < 0) this.parts = null;
  }

  get aborted(): boolean {
    return this.watch?.aborted === true;
  }

  /** What the proxy reports for the logs lands on the client's response (see `Response.upstreamAddress`). */
  get upstreamAddress(): string {
    return this.watch?.upstreamAddress ?? '';
  }
  set upstreamAddress(address: string) {
    if (this.watch !== null) this.watch.upstreamAddress = address;
  }
  get upstreamTime(): number {
    return this.watch?.upstreamTime ?? -1;
  }
  set upstreamTime(ms: number) {
    if (this.watch !== null) this.watch.upstreamTime = ms;
  }

  /** The kept body (complete responses within the limit), else null. */
  get body(): Buffer | null {
    if (!this.ended || this.parts === null) return null;
    return this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
  }

  /** Called by the cache's ForwardObserver once the head is on this object. */
  observeHead(head: ParsedHead): void {
    this.head = head;
    this.headersSent = true;
    this.responseTime = this.clock();
    this.client = this.handler.onHead(this);
  }

  /** Called by the cache's ForwardObserver when the exchange ended after a head. */
  observeEnd(complete: boolean): void {
    if (this.reported) return;
    this.reported = true;
    this.report(complete && this.ended, false);
  }

  /**
   * Tell the handler the exchange is over. This runs inside socket callbacks of the upstream connection,
   * where a throw would take the worker down: a failure is handed to `onError` and the client dropped.
   */
  private report(complete: boolean, local: boolean): void {
    try {
      this.handler.onEnd(this, complete, local);
    } catch (error) {
      this.handler.onError(error);
      const client = this.client ?? this.watch;
      if (client !== null && !client.finished) client.destroy();
    }
  }

  setHeader(name: string, value: HeaderValue): this {
    const i = this.indexOf(name);
    if (i === -1) {
      this.names.push(name);
      this.values.push(value);
    } else {
      this.names[i] = name;
      this.values[i] = value;
    }
    return this;
  }

  getHeader(name: string): HeaderValue | undefined {
    const i = this.indexOf(name);
    return i === -1 ? undefined : this.values[i];
  }

  hasHeader(name: string): boolean {
    return this.indexOf(name) !== -1;
  }

  removeHeader(name: string): this {
    const i = this.indexOf(name);
    if (i !== -1) {
      this.names.splice(i, 1);
      this.values.splice(i, 1);
    }
    return this;
  }

  headerEntries(): ReadonlyArray<readonly [string, HeaderValue]> {
    return this.names.map((name, i) => [name, this.values[i]!] as const);
  }

  writeHead(status?: number, reason?: string): this {
    if (status !== undefined) this.statusCode = status;
    if (reason !== undefined) this.statusMessage = reason;
    return this;
  }

  write(chunk: Buffer | string): boolean {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.keep(buf);
    const client = this.client;
    return client === null ? true : client.write(buf);
  }

  end(chunk?: Buffer | string): void {
    if (this.ended) return;
    const buf = chunk === undefined ? null : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (buf !== null) this.keep(buf);
    this.ended = true;
    this.finished = true;
    if (!this.headersSent) {
      // No backend answered: this is the proxy's own error response (sendError).
      this.responseTime = this.clock();
      this.reported = true;
      this.report(true, true);
      return;
    }
    const client = this.client;
    if (client !== null) {
      if (buf === null) client.end();
      else client.end(buf);
    }
  }

  onDrain(callback: () => void): void {
    if (this.client !== null) this.client.onDrain(callback);
    else process.nextTick(callback);
  }

  onAbort(callback: () => void): void {
    this.watch?.onAbort(callback);
  }

  /**
   * An interim response from the backend (103 Early Hints) goes straight to the client waiting for this
   * exchange, whatever the final answer turns out to be (relayed, stored, or replaced by a stored entry
   * after a 304): hints are advisory (RFC 8297 §2). Never kept: only the final head and body are stored
   * (RFC 9111 §3 stores final responses). A background refresh has no client to tell.
   */
  writeInterim(status: number, fields?: InterimFields): boolean {
    const client = this.watch;
    if (this.headersSent || client === null || client.aborted || client.writeInterim === undefined)
      return false;
    return client.writeInterim(status, fields);
  }

  sendPrebuilt(): void {
    throw new Error('UpstreamResponse: sendPrebuilt is not used on a forwarded response');
  }

  destroy(): void {
    this.parts = null;
    if (!this.reported) {
      this.reported = true;
      this.report(false, !this.headersSent);
    }
    if (this.client !== null && !this.client.finished) this.client.destroy();
  }

  captureBody(): void {}

  /** Keep no body copy (the response will not be stored). */
  stopKeeping(): void {
    this.parts = null;
  }

  /** Copy the relayed head onto `client` (status, fields except `skip`), ready for the body. */
  copyHeadTo(client: Response, skip: ReadonlySet<string> | null): void {
    client.statusCode = this.statusCode;
    client.statusMessage = this.statusMessage;
    for (let i = 0; i < this.names.length; i++) {
      const name = this.names[i]!;
      if (skip?.has(name.toLowerCase())) continue;
      client.setHeader(name, this.values[i]!);
    }
  }

  /** Relay the (already complete, local) response to `client` in one go. */
  relayWhole(client: Response, skip: ReadonlySet<string> | null): void {
    this.copyHeadTo(client, skip);
    const body = this.parts === null ? null : Buffer.concat(this.parts, this.size);
    if (body === null || body.length === 0) client.end();
    else client.end(body);
  }

  private keep(buf: Buffer): void {
    this.bodyBytes += buf.length;
    const parts = this.parts;
    if (parts === null) return;
    // Local error bodies are always kept (they are tiny) so that they can be relayed whole.
    if (this.headersSent && this.size + buf.length > this.limit) {
      this.parts = null;
      return;
    }
    parts.push(buf);
    this.size += buf.length;
  }

  private indexOf(name: string): number {
    const lower = name.toLowerCase();
    for (let i = 0; i < this.names.length; i++) if (this.names[i]!.toLowerCase() === lower) return i;
    return -1;
  }
}

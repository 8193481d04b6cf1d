/**
 * One keep-alive connection to a backend, with our own strict parser in response mode (the same code that
 * parses requests, so response framing is judged by the same rules: RFC 9112 §6.3; ambiguous framing,
 * oversized heads and non-HTTP bytes are errors, never guessed at). One request at a time; a connection
 * that errored, timed out or received a byte nobody asked for is destroyed, never reused.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { HttpParseError } from '../http/parse-error.ts';
import { HttpParser } from '../http/parser.ts';
import type { HeaderList, HttpLimits, ParsedHead, ParserHandler } from '../http/types.ts';
import type { Backend } from './backend.ts';
import { connectBackend, readyEvent } from './backend-connect.ts';
import { UpstreamError } from './errors.ts';

/** The exchange currently using a connection. Callbacks run synchronously from socket events. */
export interface UpstreamUser {
  /** A new connection is ready (pooled connections are handed over by `acquire` directly). */
  onUpstreamConnect(conn: UpstreamConnection): void;
  onUpstreamHead(head: ParsedHead): void;
  onUpstreamBody(chunk: Buffer): void;
  /** The response ended; return whether the request was fully sent (the connection may be reused). */
  onUpstreamComplete(trailers: HeaderList | null): boolean;
  /** Called once, after which the connection is gone. `responseStarted`: some response byte arrived. */
  onUpstreamError(error: UpstreamError, responseStarted: boolean, reused: boolean): void;
  /** The socket's write buffer drained (request body backpressure). */
  onUpstreamDrain(): void;
  /** A read was fully processed (flush anything held back to coalesce writes). */
  onUpstreamReadDone(): void;
}

/**
 * Where a connection returns to, and its timeouts. The owner runs one sweep timer for all its
 * connections (see `checkTimeout`): no socket timer per connection, which Node would re-arm on every
 * read and write.
 */
export interface ConnectionOwner {
  readonly backend: Backend;
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  readonly idleTimeout: number;
  readonly limits: HttpLimits;
  /** Sweeps done so far; a connection notes it at each sign of life (an integer copy, no clock read). */
  readonly ticks: number;
  /** The response ended cleanly and the connection can take another request. */
  release(conn: UpstreamConnection): void;
  /** The connection closed (remove it from the idle list). */
  closed(conn: UpstreamConnection): void;
}

/**
 * Every upstream socket reads into this one buffer (net's `onread`): no Buffer per read and no stream
 * 'data' events. Safe to share because a read is parsed synchronously in its callback and nothing keeps a
 * view of it: the parser copies partial lines into its own scratch, head fields are strings, and body
 * chunks are copied before they leave this file (`onBody`).
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

const PHASE_CONNECTING = 0;
const PHASE_ACTIVE = 1;
const PHASE_IDLE = 2;
const PHASE_DEAD = 3;

export class UpstreamConnection implements ParserHandler {
  readonly owner: ConnectionOwner;
  readonly socket: Socket;
  /** Requests sent on this connection; > 1 means it came from the pool. */
  requests = 0;
  /** `performance.now()` when the current request was written. */
  sentAt = 0;
  /**
   * Set by the exchange while it relays a request body still arriving from its client: the backend is
   * waiting for us then, so its silence is the client's pace (which the engine's body timeout bounds) and
   * does not run the response timeout, unless our writes to it are backed up.
   */
  uploading = false;
  private user: UpstreamUser | null;
  private readonly parser: HttpParser;
  private phase = PHASE_CONNECTING;
  private responseStarted = false;
  private keepAlive = false;
  private completed = false;
  /** The owner's `ticks` at the last sign of life (connect start, connected, read, write, drain, idle). */
  private mark: number;
  private trailers: HeaderList | null = null;
  private interim = false;
  private connected = false;

  constructor(owner: ConnectionOwner, user: UpstreamUser) {
    this.owner = owner;
    this.user = user;
    this.parser = new HttpParser('response', owner.limits, this);
    const backend = owner.backend;
    // TLS sockets read through their stream (no shared-buffer mode): each read arrives as its own Buffer.
    const socket = connectBackend(
      backend,
      backend.tls === null
        ? { buffer: READ_BUFFER, callback: (n: number) => this.onData(n, READ_BUFFER) }
        : null,
    );
    if (backend.tls !== null) socket.on('data', (chunk: Buffer) => this.onData(chunk.length, chunk));
    this.socket = socket;
    this.mark = owner.ticks;
    socket.on(readyEvent(backend), () => this.onConnect());
    socket.on('end', () => this.onEnd());
    socket.on('error', (error: NodeJS.ErrnoException) => this.onSocketError(error));
    socket.on('drain', () => {
      this.mark = this.owner.ticks;
      this.user?.onUpstreamDrain();
    });
    socket.on('close', () => this.onClose());
  }

  /** Whether the connection can still be handed out. */
  get usable(): boolean {
    return this.phase === PHASE_IDLE && !this.socket.destroyed;
  }

  /** Connected and handed to an exchange (a pooled connection `acquire` returned): send now. */
  get ready(): boolean {
    return this.phase === PHASE_ACTIVE;
  }

  /** Hand a pooled connection to a new exchange. */
  attach(user: UpstreamUser): void {
    this.user = user;
    this.phase = PHASE_ACTIVE;
  }

  /** Write a request head, in one write; the parser then expects a response to `method`. */
  send(method: string, head: string): void {
    this.requests++;
    this.responseStarted = false;
    this.keepAlive = false;
    this.parser.expectResponseTo(method);
    this.mark = this.owner.ticks;
    this.sentAt = performance.now();
    this.socket.write(head, 'latin1');
  }

  /** Write request body bytes; false when the socket buffer is full (wait for `onUpstreamDrain`). */
  write(chunk: Buffer | string): boolean {
    this.mark = this.owner.ticks;
    return typeof chunk === 'string' ? this.socket.write(chunk, 'latin1') : this.socket.write(chunk);
  }

  /** Write one chunk of a chunked request body (size line, data, CRLF) in one writev. */
  writeChunk(chunk: Buffer): boolean {
    const socket = this.socket;
    this.mark = this.owner.ticks;
    socket.cork();
    socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    const more = socket.write('\r\n', 'latin1');
    socket.uncork();
    return more;
  }

  /** Stop reading (the client is slower than the backend). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    // The pause was for our client; the backend's silence meanwhile does not count against it.
    this.mark = this.owner.ticks;
    this.socket.resume();
  }

  /** Close for good: never reused. The user (if any) is detached without a callback. */
  destroy(): void {
    this.user = null;
    this.phase = PHASE_DEAD;
    this.socket.destroy();
  }

  /** Put a connection that finished its response into the idle state. */
  idle(): void {
    this.user = null;
    this.uploading = false;
    this.phase = PHASE_IDLE;
    this.mark = this.owner.ticks;
    // Paused for a slow client while the rest of the response was already in the read buffer: an idle
    // connection must read again, or the next request on it would never see its answer.
    if (this.socket.isPaused()) this.socket.resume();
  }

  onHead(head: ParsedHead): void {
    const user = this.user;
    if (user === null || this.completed) {
      throw new UpstreamError('ERR_PROXY_BAD_RESPONSE', 'response bytes nobody asked for');
    }
    this.interim = head.status < 200;
    if (!this.interim) this.keepAlive = head.keepAlive;
    user.onUpstreamHead(head);
  }

  onBody(chunk: Buffer): void {
    const user = this.user;
    if (user === null) return;
    // A view of the shared read buffer: the copy may outlive this read (queued writes, captured bodies).
    const copy = Buffer.allocUnsafe(chunk.length);
    copy.set(chunk);
    user.onUpstreamBody(copy);
  }

  onMessageComplete(trailers: HeaderList | null): void {
    if (this.user === null) return;
    // Interim 1xx responses complete too; the final one follows for the same request.
    if (this.interim) {
      this.interim = false;
      return;
    }
    // Handed to the user only once the whole read parsed cleanly: bytes after the response in the same
    // read (a desync) must turn it into an error, not a clean end followed by a quiet close.
    this.completed = true;
    this.trailers = trailers;
  }

  /** Deliver a response that completed during the last read (see `onMessageComplete`). */
  private deliverCompletion(): void {
    const user = this.user!;
    const trailers = this.trailers;
    this.completed = false;
    this.trailers = null;
    this.user = null;
    const sent = user.onUpstreamComplete(trailers);
    // Reusable only when framing said so, the whole request went out and nothing else is buffered.
    if (sent && this.keepAlive && this.phase === PHASE_ACTIVE && this.parser.idle) this.owner.release(this);
    else this.destroy();
  }

  /**
   * The owner's sweep number `ticks` (every `period` ms): enforce the timeout of the current phase. The
   * silence is counted in whole sweeps since the last sign of life, minus the one in progress, so it is
   * never overestimated: a timeout fires between its value and its value plus two periods.
   */
  checkTimeout(ticks: number, period: number): void {
    const quiet = (ticks - this.mark - 1) * period;
    if (quiet <= 0) return;
    const owner = this.owner;
    if (this.phase === PHASE_CONNECTING) {
      if (owner.connectTimeout !== 0 && quiet >= owner.connectTimeout) {
        this.fail(
          new UpstreamError('ERR_PROXY_CONNECT_TIMEOUT', `connect to ${owner.backend.url} timed out`),
        );
      }
    } else if (this.phase === PHASE_ACTIVE) {
      if (this.uploading && !this.socket.writableNeedDrain) {
        this.mark = ticks;
        return;
      }
      // Silent for response_timeout: no head yet, or a gap between two reads of the body.
      if (this.user !== null && owner.responseTimeout !== 0 && quiet >= owner.responseTimeout) {
        this.fail(new UpstreamError('ERR_PROXY_TIMEOUT', `${owner.backend.url} did not answer in time`));
      }
    } else if (this.phase === PHASE_IDLE) {
      if (owner.idleTimeout !== 0 && quiet >= owner.idleTimeout) this.destroy();
    }
  }

  private onConnect(): void {
    this.mark = this.owner.ticks;
    this.phase = PHASE_ACTIVE;
    this.connected = true;
    this.owner.backend.openConnections++;
    this.user?.onUpstreamConnect(this);
  }

  /** `n` bytes were read into `buf` (`READ_BUFFER`, or a TLS read). Returns true: pausing is done with `pause()`. */
  private onData(n: number, buf: Buffer): boolean {
    if (this.phase !== PHASE_ACTIVE) {
      // Bytes on an idle connection answer nothing we sent: the stream is out of sync.
      this.destroy();
      return true;
    }
    this.responseStarted = true;
    this.mark = this.owner.ticks;
    try {
      this.parser.execute(n === buf.length ? buf : buf.subarray(0, n));
    } catch (error) {
      this.fail(asUpstreamError(error, 'ERR_PROXY_BAD_RESPONSE'));
      return true;
    }
    if (!this.completed) this.user?.onUpstreamReadDone();
    else if (this.parser.idle) this.deliverCompletion();
    // One request at a time: any byte after the response is the backend framing differently from us.
    else this.fail(new UpstreamError('ERR_PROXY_BAD_RESPONSE', 'bytes after the end of the response'));
    return true;
  }

  private onEnd(): void {
    if (this.phase !== PHASE_ACTIVE || this.user === null) {
      this.destroy();
      return;
    }
    try {
      // Completes a close-delimited body; throws when the response was cut short.
      this.parser.finish();
    } catch (error) {
      this.fail(asUpstreamError(error, 'ERR_PROXY_RESET'));
      return;
    }
    if (this.completed) this.deliverCompletion();
    else if (this.user !== null) {
      this.fail(new UpstreamError('ERR_PROXY_RESET', 'backend closed the connection before answering'));
    }
  }

  private onSocketError(error: NodeJS.ErrnoException): void {
    if (this.phase === PHASE_CONNECTING) {
      this.fail(
        new UpstreamError('ERR_PROXY_CONNECT', `connect to ${this.owner.backend.url}: ${error.code}`),
      );
    } else this.fail(new UpstreamError('ERR_PROXY_RESET', `${this.owner.backend.url}: ${error.code}`));
  }

  private onClose(): void {
    if (this.user !== null) {
      this.fail(new UpstreamError('ERR_PROXY_RESET', `${this.owner.backend.url} closed the connection`));
    }
    if (this.connected) this.owner.backend.openConnections--;
    this.phase = PHASE_DEAD;
    this.owner.closed(this);
  }

  private fail(error: UpstreamError): void {
    const user = this.user;
    this.completed = false;
    const reused = this.requests > 1;
    const started = this.responseStarted;
    this.destroy();
    user?.onUpstreamError(error, started, reused);
  }
}

function asUpstreamError(error: unknown, fallback: UpstreamError['code']): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (error instanceof HttpParseError) return new UpstreamError(fallback, error.message);
  // A bug of ours in a callback: still fails only this exchange, but says so instead of blaming the backend.
  return new UpstreamError('ERR_PROXY_INTERNAL', `internal error: ${String(error)}`);
}

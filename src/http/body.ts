/**
 * The request body as a Readable with backpressure. The connection pushes the parser's body chunks in;
 * when the stream's buffer is full the connection pauses the socket, and `_read` (the consumer wants more)
 * resumes it. The first read also releases a pending `100 Continue` (RFC 9110 §10.1.1).
 */
import { Readable } from 'node:stream';

/** What the body needs from its connection (kept narrow so the body can be tested alone). */
export interface BodySource {
  /** The consumer asked for more data: resume reading, send `100 Continue` if still owed. */
  bodyWanted(body: RequestBody): void;
}

/** @default 64 KiB: matches the socket's read size, so one full stream holds about one read. */
export const BODY_HIGH_WATER_MARK = 64 * 1024;

export class RequestBody extends Readable {
  /** Bytes received from the client so far (including discarded ones). */
  received = 0;
  /** Declared Content-Length, or -1 for a chunked body. */
  readonly expected: number;
  /** The whole body arrived (the parser completed the message). */
  complete = false;
  /** The response finished without consuming the body: chunks are dropped instead of buffered. */
  discarding = false;
  private readonly source: BodySource;

  constructor(source: BodySource, expected: number) {
    super({ highWaterMark: BODY_HIGH_WATER_MARK });
    this.source = source;
    this.expected = expected;
  }

  /** True while no consumer has attached or read anything. */
  get untouched(): boolean {
    return this.readableFlowing === null && !this.readableDidRead;
  }

  /** Bytes still to come when the length is known, else -1. */
  get remaining(): number {
    return this.expected < 0 ? -1 : this.expected - this.received;
  }

  /** Hand a chunk to the consumer; returns false when the stream is full (the caller pauses the socket). */
  deliver(chunk: Buffer): boolean {
    this.received += chunk.length;
    if (this.discarding || this.destroyed) return true;
    return this.push(chunk);
  }

  /** The message ended. */
  finish(): void {
    this.complete = true;
    if (this.destroyed) return;
    // A discarded body never ends cleanly: a late reader sees a premature close, not a truncated body.
    if (this.discarding) this.destroy();
    else this.push(null);
  }

  /**
   * Abort the body. The error is only emitted when someone listens for it: an unhandled stream 'error'
   * would crash the process, and a consumer without a listener still sees a premature close. The stream
   * emits it on the next tick, and the consumer may detach its listener meanwhile (the engine's answer in
   * its place tells it to stop at once): a listener of our own keeps that emit handled.
   */
  abort(error?: Error): void {
    if (this.destroyed) return;
    if (error === undefined || this.listenerCount('error') === 0) {
      this.destroy();
      return;
    }
    this.on('error', ignoreError);
    this.destroy(error);
  }

  override _read(): void {
    this.source.bodyWanted(this);
  }
}

function ignoreError(): void {}

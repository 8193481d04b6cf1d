/**
 * A connection's write side (the `ResponseSink` its responses write through): the pipeline queue, which
 * holds back the bytes of a response until every earlier one is written (RFC 9112 §9.3.2), coalescing of
 * pipelined answers from one read into one writev, write backpressure (reads pause while the socket's
 * buffer is full, drain callbacks run when it empties), and what happens when a response finishes: the next
 * one's held bytes go out, an unread body is discarded, or the connection ends. Fourth layer of the
 * Connection class (see connection.ts for the layout).
 */
import { performance } from 'node:perf_hooks';
import type { RequestBody } from './body.ts';
import * as connectionState from './connection-state.ts';
import { ConnectionTimeouts } from './connection-timeouts.ts';
import type { HttpResponse } from './response.ts';

// Module-local bindings, for speed (see parser-tables.ts): an imported binding is read through its module
// cell on every use.
const { DISCARD_LIMIT, MAX_PIPELINE, PAUSE_BODY, PAUSE_PIPELINE, PAUSE_WRITE } = connectionState;

/** A socket write callback that reports success only: a failed write's buffer is not known to be free. */
function flushedCallback(onFlushed: () => void): (error?: Error | null) => void {
  return (error) => {
    if (error === undefined || error === null) onFlushed();
  };
}

/** Run release callbacks of bytes that left (or were dropped) together. */
function runAll(callbacks: ReadonlyArray<() => void>): void {
  for (const callback of callbacks) callback();
}

/** Connection layer 4: the pipeline queue and the write side (`ResponseSink`). */
export abstract class ConnectionOutput extends ConnectionTimeouts {
  /** The socket's buffer emptied: read again if that was the only pause, run the writer's drain callbacks. */
  protected readonly onSocketDrain = (): void => {
    this.writeStalledSince = 0;
    if ((this.paused & PAUSE_WRITE) !== 0) this.unpause(PAUSE_WRITE);
    const res = this.first;
    if (res !== null && res.drainCallbacks !== null) this.runDrain(res);
  };

  /** Every unfinished response is aborted: callbacks, then `onResponseDone` with `res.aborted` set. */
  protected abortQueue(): void {
    const hooks = this.engine.hooks;
    let res = this.first;
    this.first = this.last = null;
    this.queued = 0;
    while (res !== null) {
      res.aborted = true;
      res.pending = null;
      const releases = res.pendingReleases;
      res.pendingReleases = null;
      if (releases !== null) runAll(releases);
      const callbacks = res.abortCallbacks;
      res.abortCallbacks = null;
      if (callbacks !== null) for (const cb of callbacks) this.safeCall(cb, res);
      if (res.internal) this.engineAnswered(res);
      else if (hooks.onResponseDone !== undefined) this.safeHook(res);
      res = res.next;
    }
  }

  // ---- ResponseSink ----

  prepareHead(res: HttpResponse): void {
    // Draining: the last response says it closes; earlier pipelined ones still go out as they are. A
    // connection handed over to a new engine (a reload) stays open.
    if (this.engine.draining && res === this.last && this.engine.successor === null) res.keepAlive = false;
    const body = res.req.body as RequestBody | null;
    if (res.keepAlive && body !== null && !body.complete && body.untouched) {
      // The handler answers without reading the body. Keeping the connection means swallowing the rest;
      // only worth it for a small known remainder. A client waiting for 100 Continue may never send it.
      if (this.continueRes === res || body.expected < 0 || body.remaining > DISCARD_LIMIT)
        res.keepAlive = false;
    }
    if (!res.keepAlive) this.acceptRequests = false;
  }

  output(
    res: HttpResponse,
    a: Buffer,
    b: Buffer | null,
    c: Buffer | null,
    onFlushed?: (() => void) | null,
    releaseOnError = false,
  ): boolean {
    if (this.closed || res.aborted) {
      if (releaseOnError) onFlushed?.();
      return true;
    }
    if (res !== this.first) {
      // An earlier response is unfinished: hold these bytes (RFC 9112 §9.3.2, responses in request order).
      if (releaseOnError && onFlushed !== undefined && onFlushed !== null)
        (res.pendingReleases ??= []).push(onFlushed);
      const pending = (res.pending ??= []);
      pending.push(a);
      res.pendingBytes += a.length;
      if (b !== null) {
        pending.push(b);
        res.pendingBytes += b.length;
      }
      if (c !== null) {
        pending.push(c);
        res.pendingBytes += c.length;
      }
      return res.pendingBytes < this.socket.writableHighWaterMark;
    }
    const socket = this.socket;
    if (this.inExecute) {
      // Several answers from one read (pipelining): the first goes out at once, later ones are corked and
      // leave together in one writev when the read is parsed. A lone answer pays nothing for this.
      if (!this.wroteInExecute) this.wroteInExecute = true;
      else if (!this.corked) {
        this.corked = true;
        socket.cork();
      }
    }
    // A write callback runs once libuv finished the write: the kernel has the bytes (or the socket failed).
    const done =
      onFlushed === undefined || onFlushed === null
        ? undefined
        : releaseOnError
          ? onFlushed
          : flushedCallback(onFlushed);
    if (b === null) {
      if (a.length > 0) socket.write(a, done);
    } else {
      socket.cork();
      socket.write(a);
      if (c === null) socket.write(b, done);
      else {
        socket.write(b);
        socket.write(c, done);
      }
      socket.uncork();
    }
    if (socket.writableNeedDrain) {
      if ((this.paused & PAUSE_WRITE) === 0) {
        this.writeStalledSince = performance.now();
        this.pause(PAUSE_WRITE);
      }
      return false;
    }
    return true;
  }

  ended(res: HttpResponse): void {
    if (res === this.first) this.complete(res);
  }

  /** `res` (at the front of the queue) has all its bytes on the socket: finish it and move on. */
  private complete(res: HttpResponse): void {
    for (;;) {
      res.finished = true;
      this.first = res.next;
      if (this.first === null) this.last = null;
      this.queued--;
      if (res.internal) this.engineAnswered(res);
      else if (this.engine.hooks.onResponseDone !== undefined) this.safeHook(res);
      if (this.closed) return;
      const body = res.req.body as RequestBody | null;
      if (body !== null && body === this.currentBody && res.keepAlive && body.untouched) {
        // Answered without reading the body: drop the rest of it as it arrives (bounded by onBody). A body
        // the handler is still reading keeps flowing to it.
        body.discarding = true;
        this.discardStart = body.received;
        if ((this.paused & PAUSE_BODY) !== 0) this.unpause(PAUSE_BODY);
      }
      if (!res.keepAlive) {
        this.endSocket();
        return;
      }
      if ((this.paused & PAUSE_PIPELINE) !== 0 && this.queued <= MAX_PIPELINE) this.unpause(PAUSE_PIPELINE);
      const next = this.first;
      if (next === null) {
        if (!this.acceptRequests && this.current === null) this.endSocket();
        else {
          // Between two requests: the moment to go to the engine that replaces ours (see `drain`).
          const successor = this.engine.successor;
          if (successor !== null && this.current === null) this.moveTo(successor);
          if (!this.inExecute && this.current === null && !this.parser.inHead) this.rearm(performance.now());
        }
        return;
      }
      const pending = next.pending;
      if (pending !== null) {
        next.pending = null;
        next.pendingBytes = 0;
        const releases = next.pendingReleases;
        next.pendingReleases = null;
        const socket = this.socket;
        socket.cork();
        const last = pending.length - 1;
        for (let i = 0; i < last; i++) socket.write(pending[i]!);
        if (releases === null) socket.write(pending[last]!);
        else socket.write(pending[last]!, () => runAll(releases));
        socket.uncork();
        if (socket.writableNeedDrain && (this.paused & PAUSE_WRITE) === 0) {
          this.writeStalledSince = performance.now();
          this.pause(PAUSE_WRITE);
        }
      }
      if (!next.ended) {
        if (next.drainCallbacks !== null && !this.socket.writableNeedDrain) this.runDrain(next);
        return;
      }
      res = next;
    }
  }

  wantDrain(res: HttpResponse): void {
    if (res === this.first && !this.socket.writableNeedDrain) {
      process.nextTick(() => {
        if (res === this.first && res.drainCallbacks !== null && !this.socket.writableNeedDrain) {
          this.runDrain(res);
        }
      });
    }
  }

  destroyResponse(res: HttpResponse): void {
    if (res.closeDelimited && !this.closed) {
      // A close-delimited body ends with the connection: a plain close (FIN) would present the cut body
      // as complete. A reset (RST) is what its client can tell from an end (curl, browsers: "connection
      // reset"); bytes still unsent are lost, which changes nothing for a body that is cut anyway.
      this.acceptRequests = false;
      this.parsing = false;
      try {
        this.socket.resetAndDestroy();
        return;
      } catch {
        // not a TCP socket: the plain close below is all there is
      }
    }
    this.kill();
  }
}

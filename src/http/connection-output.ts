/**
 * A connection's write side, besides `Connection.output` itself: the pipeline queue, which holds back the
 * bytes of a response until every earlier one is written (RFC 9112 §9.3.2), and what happens when a
 * response finishes: the next one's held bytes go out, an unread body is discarded, or the connection
 * ends. Plain functions of the Connection (see connection.ts for the layout).
 */
import { performance } from 'node:perf_hooks';
import type { RequestBody } from './body.ts';
import type { Connection } from './connection.ts';
import * as connectionAnswers from './connection-answers.ts';
import * as connectionState from './connection-state.ts';
import * as connectionTimeouts from './connection-timeouts.ts';
import type { HttpResponse } from './response.ts';

// Module-local bindings, for speed (see parser-tables.ts): an imported binding is read through its module
// cell on every use.
const { MAX_PIPELINE, PAUSE_BODY, PAUSE_PIPELINE, PAUSE_WRITE, PHASE_CLOSED, PHASE_OPEN } = connectionState;
const { engineAnswered } = connectionAnswers;
const { rearm } = connectionTimeouts;

/** Run release callbacks of bytes that left (or were dropped) together. */
function runAll(callbacks: ReadonlyArray<() => void>): void {
  for (const callback of callbacks) callback();
}

/**
 * `res` writes while an earlier response is unfinished: hold its bytes (RFC 9112 §9.3.2, responses in
 * request order). Returns whether the writer may go on.
 */
export function holdBytes(
  c: Connection,
  res: HttpResponse,
  a: Buffer,
  b: Buffer | null,
  c2: Buffer | null,
  onFlushed: (() => void) | null | undefined,
  releaseOnError: boolean,
): boolean {
  if (releaseOnError && onFlushed !== undefined && onFlushed !== null)
    (res.pendingReleases ??= []).push(onFlushed);
  const pending = (res.pending ??= []);
  pending.push(a);
  res.pendingBytes += a.length;
  if (b !== null) {
    pending.push(b);
    res.pendingBytes += b.length;
  }
  if (c2 !== null) {
    pending.push(c2);
    res.pendingBytes += c2.length;
  }
  return res.pendingBytes < c.socket.writableHighWaterMark;
}

/** Every unfinished response is aborted: callbacks, then `onResponseDone` with `res.aborted` set. */
export function abortQueue(c: Connection): void {
  const hooks = c.engine.hooks;
  let res = c.first;
  c.first = c.last = null;
  c.queued = 0;
  while (res !== null) {
    res.aborted = true;
    res.pending = null;
    const releases = res.pendingReleases;
    res.pendingReleases = null;
    if (releases !== null) runAll(releases);
    const callbacks = res.abortCallbacks;
    res.abortCallbacks = null;
    if (callbacks !== null) for (const cb of callbacks) c.safeCall(cb, res);
    if (res.internal) engineAnswered(c, res);
    else if (hooks.onResponseDone !== undefined) c.safeHook(res);
    res = res.next;
  }
}

/** `res` (at the front of the queue) has all its bytes on the socket: finish it and move on. */
export function complete(c: Connection, res: HttpResponse): void {
  for (;;) {
    res.finished = true;
    c.first = res.next;
    if (c.first === null) c.last = null;
    c.queued--;
    if (res.internal) engineAnswered(c, res);
    else if (c.engine.hooks.onResponseDone !== undefined) c.safeHook(res);
    if (c.phase === PHASE_CLOSED) return;
    const body = res.req.body as RequestBody | null;
    if (body !== null && body === c.currentBody && res.keepAlive && body.untouched) {
      // Answered without reading the body: drop the rest of it as it arrives (bounded by onBody). A body
      // the handler is still reading keeps flowing to it.
      body.discarding = true;
      c.discardStart = body.received;
      if ((c.paused & PAUSE_BODY) !== 0) c.unpause(PAUSE_BODY);
    }
    if (!res.keepAlive) {
      c.endSocket();
      return;
    }
    if ((c.paused & PAUSE_PIPELINE) !== 0 && c.queued <= MAX_PIPELINE) c.unpause(PAUSE_PIPELINE);
    const next = c.first;
    if (next === null) {
      if (c.phase !== PHASE_OPEN && c.current === null) c.endSocket();
      else {
        // Between two requests: the moment to go to the engine that replaces ours (see `drain`).
        const successor = c.engine.successor;
        if (successor !== null && c.current === null) c.moveTo(successor);
        if (!c.inExecute && c.current === null && !c.parser.inHead) rearm(c, performance.now());
      }
      return;
    }
    if (next.pending !== null) flushHeld(c, next);
    if (!next.ended) {
      if (next.drainCallbacks !== null && !c.socket.writableNeedDrain) c.runDrain(next);
      return;
    }
    res = next;
  }
}

/** `next` reached the front of the queue: write the bytes it held meanwhile. */
function flushHeld(c: Connection, next: HttpResponse): void {
  const pending = next.pending!;
  next.pending = null;
  next.pendingBytes = 0;
  const releases = next.pendingReleases;
  next.pendingReleases = null;
  const socket = c.socket;
  socket.cork();
  const last = pending.length - 1;
  for (let i = 0; i < last; i++) socket.write(pending[i]!);
  if (releases === null) socket.write(pending[last]!);
  else socket.write(pending[last]!, () => runAll(releases));
  socket.uncork();
  if (socket.writableNeedDrain && (c.paused & PAUSE_WRITE) === 0) {
    c.writeStalledSince = performance.now();
    c.pause(PAUSE_WRITE);
  }
}

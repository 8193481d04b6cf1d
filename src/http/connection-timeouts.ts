/**
 * A connection's timeouts. A connection has one timeout at a time (idle keep-alive, head, body, lingering
 * close), kept as a kind and a deadline in plain fields; the engine's sweep calls `sweep(now)` on every
 * connection, which costs one comparison until a deadline passes. No timer object per connection or
 * request. A client that stopped reading its answers is treated like a stalled body. Plain functions of
 * the Connection (see connection.ts for the layout).
 */
import type { Connection } from './connection.ts';
import { answerInternally } from './connection-answers.ts';
import * as connectionState from './connection-state.ts';

// Module-local bindings, for speed (see parser-tables.ts): an imported binding is read through its module
// cell on every use.
const {
  PAUSE_BODY,
  PHASE_OPEN,
  PHASE_STOPPED,
  PHASE_TAKEN,
  TIMER_BODY,
  TIMER_HEADER,
  TIMER_IDLE,
  TIMER_LINGER,
  TIMER_NONE,
} = connectionState;

/** Pick the timeout that applies now that the parser and the queue moved. */
export function rearm(c: Connection, now: number): void {
  const t = c.engine.options.timeouts;
  if (c.parser.inHead) {
    if (c.timer !== TIMER_HEADER) {
      if (t.headerTimeout > 0) c.arm(TIMER_HEADER, now + t.headerTimeout);
      else c.timer = TIMER_NONE;
    }
  } else if (c.currentBody !== null) {
    if (t.bodyTimeout > 0) c.arm(TIMER_BODY, now + t.bodyTimeout);
    else c.timer = TIMER_NONE;
  } else if (c.first === null) {
    if (t.keepAliveTimeout > 0) c.arm(TIMER_IDLE, now + t.keepAliveTimeout);
    else c.timer = TIMER_NONE;
  } else {
    c.timer = TIMER_NONE; // a handler is working: its time is its own
  }
}

/** The engine's sweep; one comparison for connections whose deadline has not come. */
export function sweep(c: Connection, now: number): void {
  if (c.phase === PHASE_TAKEN) return; // the new owner keeps its own time
  if (c.writeStalledSince !== 0) {
    const limit = c.engine.options.timeouts.bodyTimeout;
    // A client that stopped reading its response holds our memory: treat it like a stalled body.
    if (limit > 0 && now - c.writeStalledSince > limit) {
      c.socket.destroy();
      return;
    }
  }
  if (c.timer === TIMER_NONE || now < c.deadline) return;
  switch (c.timer) {
    case TIMER_IDLE:
      c.timer = TIMER_NONE;
      c.endSocket();
      break;
    case TIMER_HEADER: {
      c.timer = TIMER_NONE;
      const wasAccepting = c.phase === PHASE_OPEN;
      c.to(PHASE_STOPPED);
      // The head began when the timeout was armed.
      if (wasAccepting)
        answerInternally(
          c,
          408,
          '408 Request header timeout\n',
          c.deadline - c.engine.options.timeouts.headerTimeout,
        );
      else if (c.first === null) c.endSocket();
      break;
    }
    case TIMER_BODY: {
      if ((c.paused & PAUSE_BODY) !== 0) {
        // The handler is not reading: the client is not the one being slow.
        c.deadline = now + c.engine.options.timeouts.bodyTimeout;
        break;
      }
      c.timer = TIMER_NONE;
      c.to(PHASE_STOPPED);
      const res = c.currentRes;
      c.abortBody();
      if (res !== null && !res.ended) {
        if (!c.answerForHandler(res, 408, '408 Request body timeout\n')) c.kill();
      } else if (c.first === null) c.endSocket();
      break;
    }
    case TIMER_LINGER:
      c.socket.destroy();
      break;
  }
}

/**
 * A connection's timeouts. A connection has one timeout at a time (idle keep-alive, head, body, lingering
 * close), kept as a kind and a deadline in plain fields; the engine's sweep calls `sweep(now)` on every
 * connection, which costs one comparison until a deadline passes. No timer object per connection or
 * request. A client that stopped reading its answers is treated like a stalled body. Third layer of the
 * Connection class (see connection.ts for the layout).
 */
import { ConnectionAnswers } from './connection-answers.ts';
import * as connectionState from './connection-state.ts';

// Module-local bindings, for speed (see parser-tables.ts): an imported binding is read through its module
// cell on every use.
const { PAUSE_BODY, TIMER_BODY, TIMER_HEADER, TIMER_IDLE, TIMER_LINGER, TIMER_NONE } = connectionState;

/** Connection layer 3: the one timeout a connection has at a time (`rearm`, `sweep`). */
export abstract class ConnectionTimeouts extends ConnectionAnswers {
  /** Pick the timeout that applies now that the parser and the queue moved. */
  protected rearm(now: number): void {
    const t = this.engine.options.timeouts;
    if (this.parser.inHead) {
      if (this.timer !== TIMER_HEADER) {
        if (t.headerTimeout > 0) this.arm(TIMER_HEADER, now + t.headerTimeout);
        else this.timer = TIMER_NONE;
      }
    } else if (this.currentBody !== null) {
      if (t.bodyTimeout > 0) this.arm(TIMER_BODY, now + t.bodyTimeout);
      else this.timer = TIMER_NONE;
    } else if (this.first === null) {
      if (t.keepAliveTimeout > 0) this.arm(TIMER_IDLE, now + t.keepAliveTimeout);
      else this.timer = TIMER_NONE;
    } else {
      this.timer = TIMER_NONE; // a handler is working: its time is its own
    }
  }

  /** Called by the engine's sweep; one comparison for connections whose deadline has not come. */
  sweep(now: number): void {
    if (this.tookOver) return; // the new owner keeps its own time
    if (this.writeStalledSince !== 0) {
      const limit = this.engine.options.timeouts.bodyTimeout;
      // A client that stopped reading its response holds our memory: treat it like a stalled body.
      if (limit > 0 && now - this.writeStalledSince > limit) {
        this.socket.destroy();
        return;
      }
    }
    if (this.timer === TIMER_NONE || now < this.deadline) return;
    switch (this.timer) {
      case TIMER_IDLE:
        this.timer = TIMER_NONE;
        this.endSocket();
        break;
      case TIMER_HEADER:
        this.timer = TIMER_NONE;
        this.parsing = false;
        // The head began when the timeout was armed.
        if (this.acceptRequests)
          this.answerInternally(
            408,
            '408 Request header timeout\n',
            this.deadline - this.engine.options.timeouts.headerTimeout,
          );
        else if (this.first === null) this.endSocket();
        break;
      case TIMER_BODY: {
        if ((this.paused & PAUSE_BODY) !== 0) {
          // The handler is not reading: the client is not the one being slow.
          this.deadline = now + this.engine.options.timeouts.bodyTimeout;
          break;
        }
        this.timer = TIMER_NONE;
        this.parsing = false;
        this.acceptRequests = false;
        const res = this.currentRes;
        this.abortBody();
        if (res !== null && !res.ended) {
          if (!this.answerForHandler(res, 408, '408 Request body timeout\n')) this.kill();
        } else if (this.first === null) this.endSocket();
        break;
      }
      case TIMER_LINGER:
        this.socket.destroy();
        break;
    }
  }
}

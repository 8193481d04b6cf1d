/**
 * The engine's own answers: a request the parser rejects (400, 413, 414, 431, 501, 505) or a head that
 * timed out (408) is answered by the engine, in pipeline order, and the connection closes after it. Each
 * one is reported once to `onEngineResponse` with the request as far as it was read. Plain functions of the
 * Connection (see connection.ts for the layout).
 */
import { performance } from 'node:perf_hooks';
import type { Connection } from './connection.ts';
import { PHASE_LAST, PHASE_OPEN, PHASE_STOPPED } from './connection-state.ts';
import { EMPTY_HEADERS } from './headers.ts';
import { HttpParseError } from './parse-error.ts';
import type { HttpParser } from './parser.ts';
import { HttpRequest } from './request.ts';
import { HttpResponse } from './response.ts';
import type { ParsedHead } from './types.ts';

/**
 * Stands in for the head of a request that never completed (timeouts, parse errors) in the engine's own
 * answer: a GET, so the error text is sent whatever the method was, as it always has been.
 */
const SYNTHETIC_HEAD: ParsedHead = {
  method: 'GET',
  target: '/',
  status: 0,
  reason: '',
  versionMinor: 1,
  headers: EMPTY_HEADERS,
  contentLength: -1,
  chunked: false,
  keepAlive: false,
  expectContinue: false,
  upgrade: false,
};

/**
 * The request an engine-made answer reports to `onEngineResponse` when its request line was not read
 * whole: no method, no target (an access log prints `-`), no fields.
 */
export const UNPARSED_HEAD: ParsedHead = Object.freeze({
  ...SYNTHETIC_HEAD,
  method: '',
  target: '',
});

/**
 * The head to report for the message a parse error or the header timeout interrupted: its method, target
 * and version when the parser had read the request line whole, else `UNPARSED_HEAD`.
 */
function interruptedHead(parser: HttpParser): ParsedHead {
  const line = parser.readRequestLine;
  return line === null ? UNPARSED_HEAD : { ...UNPARSED_HEAD, ...line };
}

/** The parser threw on this read: answer it (or fail the request in flight) and stop reading. */
export function parseFailed(c: Connection, err: unknown): void {
  const wasAccepting = c.phase === PHASE_OPEN;
  c.to(PHASE_STOPPED);
  let status = 400;
  let message = 'Bad Request';
  if (err instanceof HttpParseError) {
    status = err.status;
    message = err.message;
  } else {
    c.engine.reportError(err, c.current);
  }
  const text = status + ' ' + message + '\n';
  const res = c.currentRes;
  const body = c.currentBody;
  c.current = null;
  c.currentRes = null;
  c.currentBody = null;
  c.continueRes = null;
  if (body !== null) body.abort(err instanceof Error ? err : undefined);
  if (res !== null && !res.ended) {
    // The error is in the body of a request already dispatched: answer in the handler's place if it
    // has not started, else let its response finish and close.
    if (!c.answerForHandler(res, status, text)) res.keepAlive = false;
  } else if (wasAccepting) {
    answerInternally(c, status, text, c.readAt);
  } else if (c.first === null) {
    c.endSocket();
  }
}

/**
 * Queue an engine-made error response (in pipeline order) and close after it. `startTime`: when the
 * offending request began, as far as the engine knows (for `onEngineResponse`).
 */
export function answerInternally(c: Connection, status: number, text: string, startTime: number): void {
  c.to(PHASE_LAST);
  if (c.engine.hooks.onEngineResponse !== undefined) {
    c.rejected = new HttpRequest(interruptedHead(c.parser), null, false, c, startTime);
  }
  const req = new HttpRequest(SYNTHETIC_HEAD, null, false, c, performance.now());
  const res = new HttpResponse(c, req);
  res.internal = true;
  if (c.last === null) c.first = c.last = res;
  else c.last = c.last.next = res;
  c.queued++;
  res.replaceWithError(status, text);
}

/** The engine's own answer `res` is written or aborted: report it (once) to `onEngineResponse`. */
export function engineAnswered(c: Connection, res: HttpResponse): void {
  const req = c.rejected;
  const hook = c.engine.hooks.onEngineResponse;
  if (req === null || hook === undefined) return;
  c.rejected = null;
  try {
    hook(req, res);
  } catch (err) {
    c.engine.reportError(err, req);
  }
}

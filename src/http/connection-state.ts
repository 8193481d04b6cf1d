/**
 * The constants a connection's parts share: its lifecycle phases, its timeout kinds and its pause reasons.
 * The Connection itself is in connection.ts (see there for the layout).
 */

/**
 * Lifecycle phases, in the only order a connection moves through them (`Connection.to` never goes back).
 * Reads are parsed and new requests dispatched.
 */
export const PHASE_OPEN = 0;
/**
 * No new request is dispatched (a closing request, a drain, the request limit, an engine answer queued):
 * reads are still parsed to keep the framing of the message in progress, and the answers in flight go out.
 */
export const PHASE_LAST = 1;
/** Reads are discarded (a parse error, a timeout, an upgrade head): the answers in flight still go out. */
export const PHASE_STOPPED = 2;
/** We ended our side and wait for the client's FIN (lingering close); nothing is parsed. */
export const PHASE_ENDING = 3;
/** A handler took the socket (`takeOver`): reads go to it, the engine no longer parses, times or writes. */
export const PHASE_TAKEN = 4;
/** The socket closed. */
export const PHASE_CLOSED = 5;

/** No timeout armed. */
export const TIMER_NONE = 0;
/** Keep-alive idle: close silently. */
export const TIMER_IDLE = 1;
/** A head is partly received (slowloris): 408 and close. */
export const TIMER_HEADER = 2;
/** A body is partly received and the client went quiet: 408 (or destroy) and close. */
export const TIMER_BODY = 3;
/** We ended our side and wait for the client's FIN: destroy. */
export const TIMER_LINGER = 4;

/** Reasons the socket is paused; reading resumes when none is left. Write backpressure. */
export const PAUSE_WRITE = 1;
/** The request body's reader is full. */
export const PAUSE_BODY = 2;
/** Too many pipelined requests unanswered (`MAX_PIPELINE`). */
export const PAUSE_PIPELINE = 4;
/** An upgrade request waits for its handler: the bytes after its head belong to whoever takes the socket. */
export const PAUSE_UPGRADE = 8;

/** Pipelined requests dispatched but unanswered before reading stops. */
export const MAX_PIPELINE = 32;
/** Unread request body a finished keep-alive response may still swallow before closing instead. */
export const DISCARD_LIMIT = 64 * 1024;
/** How long a closing connection waits for the client's FIN (lingering close, RFC 9112 §9.6). */
export const LINGER_MS = 2000;

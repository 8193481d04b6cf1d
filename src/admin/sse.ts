/**
 * `GET /api/events`: Server-Sent Events (WHATWG HTML §9.2). On connect the stream sends `event: history`
 * (the last 300 s, so the graphs are full at once), then `event: stats` every second. A client that does
 * not keep up has frames dropped rather than queued (the next frame carries the last five seconds
 * anyway); one that stops reading entirely is dropped by the engine's write timeout.
 *
 * A stream holds its connection for as long as the client likes, so streams are capped per client address
 * (and in all, below the admin listener's connection limit): one client opening streams in a loop could
 * otherwise take every admin connection, and the API calls with them.
 */
import type { Request, Response } from '../http/types.ts';
import type { LiveFeed, LiveSnapshot } from './live.ts';

/** Open streams, so that closing the admin ends them (they would otherwise hold the drain up). */
export interface EventStreams {
  readonly size: number;
  /** Why a new stream for `req` is refused (too many open), or null when it may open. */
  refusal(req: Request): StreamRefusal | null;
  open(req: Request, res: Response, headers: ReadonlyArray<readonly [string, string]>): void;
  closeAll(): void;
}

/** A refused stream: the status and the reason the client is told. */
export interface StreamRefusal {
  readonly status: 429 | 503;
  readonly code: string;
  readonly message: string;
}

/** How many streams may be open. */
export interface StreamLimits {
  /** Per client address (`[admin] max_event_streams_per_client`). */
  readonly perClient: number;
  /** In all. */
  readonly total: number;
}

function frame(event: string, data: unknown): string {
  // JSON has no raw newlines, so one `data:` line carries the whole payload.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function createEventStreams(feed: LiveFeed, limits: StreamLimits): EventStreams {
  const streams = new Map<Response, () => void>();
  /** Open streams per client address. */
  const perClient = new Map<string, number>();
  const release = (address: string) => {
    const n = (perClient.get(address) ?? 1) - 1;
    if (n <= 0) perClient.delete(address);
    else perClient.set(address, n);
  };
  return {
    get size() {
      return streams.size;
    },
    refusal(req) {
      if ((perClient.get(req.connection.remoteAddress) ?? 0) >= limits.perClient) {
        return {
          status: 429,
          code: 'too_many_streams',
          message:
            `this client already has ${limits.perClient} open event streams ` +
            '([admin] max_event_streams_per_client); close one first',
        };
      }
      if (streams.size >= limits.total) {
        return {
          status: 503,
          code: 'too_many_streams',
          message: `the admin already serves ${limits.total} event streams; try again later`,
        };
      }
      return null;
    },
    open(req, res, headers) {
      const address = req.connection.remoteAddress;
      perClient.set(address, (perClient.get(address) ?? 0) + 1);
      res.statusCode = 200;
      for (const [name, value] of headers) res.setHeader(name, value);
      res.setHeader('content-type', 'text/event-stream; charset=utf-8');
      res.setHeader('cache-control', 'no-store');
      // Tell intermediaries such as nginx not to buffer the stream.
      res.setHeader('x-accel-buffering', 'no');
      res.writeHead();
      // retry: how long EventSource-style clients wait before reconnecting.
      let writable = res.write('retry: 2000\n\n');
      const send = (snapshot: LiveSnapshot, withHistory: boolean) => {
        if (!writable) return;
        const text = (withHistory ? frame('history', feed.historyFrame()) : '') + frame('stats', snapshot);
        writable = res.write(text);
        if (!writable) res.onDrain(() => (writable = true));
      };
      let first = true;
      const deliver = (snapshot: LiveSnapshot) => {
        send(snapshot, first);
        first = false;
      };
      if (feed.latest !== null) deliver(feed.latest);
      const unsubscribe = feed.subscribe(deliver);
      streams.set(res, unsubscribe);
      res.onAbort(() => {
        unsubscribe();
        if (streams.delete(res)) release(address);
      });
    },
    closeAll() {
      for (const [res, unsubscribe] of streams) {
        unsubscribe();
        res.end();
      }
      streams.clear();
      perClient.clear();
    },
  };
}

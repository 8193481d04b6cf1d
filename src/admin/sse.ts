/**
 * `GET /api/events`: Server-Sent Events (WHATWG HTML §9.2). On connect the stream sends `event: history`
 * (the last 300 s, so the graphs are full at once), then `event: stats` every second. A client that does
 * not keep up has frames dropped rather than queued (the next frame carries the last five seconds
 * anyway); one that stops reading entirely is dropped by the engine's write timeout.
 */
import type { Request, Response } from '../http/types.ts';
import type { LiveFeed, LiveSnapshot } from './live.ts';

/** Open streams, so that closing the admin ends them (they would otherwise hold the drain up). */
export interface EventStreams {
  readonly size: number;
  open(req: Request, res: Response, headers: ReadonlyArray<readonly [string, string]>): void;
  closeAll(): void;
}

function frame(event: string, data: unknown): string {
  // JSON has no raw newlines, so one `data:` line carries the whole payload.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function createEventStreams(feed: LiveFeed): EventStreams {
  const streams = new Map<Response, () => void>();
  return {
    get size() {
      return streams.size;
    },
    open(_req, res, headers) {
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
        const text =
          (withHistory ? frame('history', { points: feed.history() }) : '') + frame('stats', snapshot);
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
        streams.delete(res);
      });
    },
    closeAll() {
      for (const [res, unsubscribe] of streams) {
        unsubscribe();
        res.end();
      }
      streams.clear();
    },
  };
}

/**
 * Bodies a later stage keeps (the content cache fills its entries from them): read whole, into one buffer
 * of exactly the body's size, and sent with one `end(buffer)`, instead of streamed through the recycled
 * 128 KiB chunks of stream-file.ts.
 *
 * Why: a captured chunk can never go back to the chunk pool (the cache holds it), so a streamed fill
 * allocated a fresh 128 KiB chunk per miss, the cache copied the body out of it, and the chunk became
 * garbage. Dead ArrayBuffers are only freed by V8's next full GC, and freed malloc chunks stay in the
 * process's RSS: with a 256 MiB cache of 64 KiB files that cost ~20 KB of RSS per entry beyond the body
 * (bench/lib/scenario-memory.ts measured 1.30-1.35x the capacity). Read whole, the one buffer is what the
 * response sends, what the capture keeps (by reference, no concat) and what the entry stores (a body that
 * owns its whole ArrayBuffer is kept as is, see src/cache/entry.ts): nothing is copied, nothing is left
 * over. Large bodies nobody keeps are still streamed: their memory stays bounded at two pooled chunks.
 *
 * With the shared cache the keeper lends the memory (`lendBody`: its worker's staging area in the arena):
 * the body is read there and sent from there with `endLent`, and the owner copies it into the entry, so
 * not even the one buffer lands on the JS heap. Bodies up to `SYNC_LENT_MAX` with lent memory are read
 * synchronously by the static handler itself; what comes here is larger, or has no memory lent.
 */
import { close, read } from 'node:fs';
import { lendBody } from '../http/body-keepers.ts';
import type { Response } from '../http/types.ts';

/**
 * Bodies up to this size are read with one synchronous pread (static-handler.ts) into lent memory (the
 * shared cache's staging area, or scratch memory when nobody keeps them): a page-cache read of this size
 * costs less than the two thread-pool hand-offs of an asynchronous read and close (measured under churn:
 * those hand-offs were a third of a worker's time for 64 KiB files). Larger ones come here and are read
 * asynchronously, as are bodies a keeper takes without lending memory.
 */
export const SYNC_LENT_MAX = 256 * 1024;

/**
 * Reads `length` bytes at `start` of the open descriptor `fd` into one buffer (never a slice of a shared
 * pool: memory the body's keeper lends, or a new buffer), ends `res` with it, and closes `fd` exactly once.
 * A read error or a file that got shorter destroys the response (the head is not sent yet, but the client
 * must not get a short body with a full Content-Length); so does a client that went away meanwhile (unless
 * the engine already finished it).
 */
export function sendWhole(res: Response, fd: number, start: number, length: number): void {
  const loan = length === 0 ? null : lendBody(res, length);
  // allocUnsafeSlow: a buffer of its own, so the cache can keep it without pinning anything else.
  const body = loan === null ? Buffer.allocUnsafeSlow(length) : loan.buffer;
  let done = 0;
  const finish = (ok: boolean) => {
    close(fd, () => {});
    if (res.finished) {
      loan?.release();
      return;
    }
    // As stream-file.ts does: a response that cannot be completed is destroyed, never left hanging.
    if (ok && !res.aborted) {
      if (loan === null) res.end(body);
      else res.endLent!(body, loan.release);
    } else {
      loan?.release();
      res.destroy();
    }
  };
  const next = () => {
    read(fd, body, done, length - done, start + done, (error, bytesRead) => {
      if (error || bytesRead === 0) return finish(false);
      done += bytesRead;
      if (done < length && !res.aborted) next();
      else finish(done === length);
    });
  };
  if (length === 0) finish(true);
  else next();
}

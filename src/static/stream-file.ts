/**
 * Streaming large files (and multipart bodies) to a response with positional async reads that honour the
 * socket's backpressure: read a chunk, `write` it, and when `write` says the buffer is full wait for
 * `onDrain` before reading on. Memory per response stays at one chunk however slow the client is.
 */
import { close, read } from 'node:fs';
import type { Response } from '../http/types.ts';
import type { ByteRange } from './range.ts';

/** Bytes read per chunk: large enough that syscalls are few, small enough to share memory fairly. */
const CHUNK_SIZE = 64 * 1024;

/** One piece of a body: literal bytes (multipart framing) or a byte range of the file. */
export type BodyPart = Buffer | ByteRange;

/**
 * Writes `parts` to `res` from the open descriptor `fd`, then ends the response and closes `fd`.
 * A read error or a file that got shorter mid-way destroys the response (the client must not take a
 * truncated body for a complete one); a client that goes away stops the reads. `fd` is closed exactly once.
 */
export function streamParts(res: Response, fd: number, parts: readonly BodyPart[]): void {
  let partIndex = 0;
  let position = -1;
  let closed = false;
  let waitingForDrain = false;

  const finish = (ok: boolean) => {
    if (closed) return;
    closed = true;
    close(fd, () => {});
    if (ok) res.end();
    else if (!res.finished) res.destroy();
  };

  const pump = () => {
    waitingForDrain = false;
    if (closed) return;
    for (;;) {
      if (res.aborted) return finish(false);
      const part = parts[partIndex];
      if (part === undefined) return finish(true);
      if (Buffer.isBuffer(part)) {
        partIndex++;
        if (!res.write(part)) return drain();
        continue;
      }
      if (position < 0) position = part.start;
      const remaining = part.end + 1 - position;
      if (remaining <= 0) {
        partIndex++;
        position = -1;
        continue;
      }
      const length = Math.min(CHUNK_SIZE, remaining);
      const buffer = Buffer.allocUnsafe(length);
      read(fd, buffer, 0, length, position, (error, bytesRead) => {
        if (error || bytesRead === 0 || res.aborted) return finish(false);
        position += bytesRead;
        if (res.write(bytesRead === length ? buffer : buffer.subarray(0, bytesRead))) pump();
        else drain();
      });
      return;
    }
  };

  const drain = () => {
    waitingForDrain = true;
    res.onDrain(pump);
  };

  // A client gone while we wait for a drain that will never come: release the descriptor now.
  res.onAbort(() => {
    if (waitingForDrain) finish(false);
  });
  pump();
}

/**
 * Reads of accepted sockets into one reused buffer, without the Readable stream machinery.
 *
 * Why: in a profile of a 1 KiB cache hit, a socket read through Readable costs a Buffer per read, `push`,
 * a 'data' emit and a `process.nextTick(maybeReadMore)`: together more than our whole parser. Node has the
 * cheaper path built in: a socket made with `onread: { buffer, callback }` has libuv read straight into
 * `buffer` and calls `callback(nread, buffer)`; nothing is queued, nothing is allocated. Node only offers
 * it to sockets the program constructs (clients), not to the ones a `net.Server` accepts. Switching an
 * accepted socket to it reaches into Node internals: the socket's private `kBuffer` / `kBufferCb` /
 * `kBufferGen` fields (the ones the public option sets) and `socket._handle.useUserBuffer`, as the
 * `net.Socket` constructor itself does. So everything is feature-detected: on any other shape (another
 * Node, a TLS socket, a socket that already buffered data) nothing is touched and the caller keeps reading
 * 'data' events. The socket object stays the same one (callers may hold it: tests, the server layer).
 *
 * The catch for the caller: `buffer` is overwritten by the next read of any socket sharing it, so whatever
 * outlives the callback (body chunks, a partial head) must be copied. Pause, resume and 'end' keep working:
 * Node's `pause()` / `resume()` stop and start the handle's reads in this mode, and EOF still ends the
 * Readable side.
 */
import * as net from 'node:net';

/** Size of the shared read buffer: the read size Node uses for its own socket reads. @default 64 KiB */
export const SHARED_READ_SIZE = 64 * 1024;

/** Called with the number of bytes read and the shared buffer they were read into (from offset 0). */
export type SharedReadCallback = (nread: number, buffer: Buffer) => void;

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

interface SocketInternals {
  _handle?: Partial<UserBufferHandle> | null;
}

/** The private field symbols of `net.Socket` behind `onread`, found once on a handle-less probe socket. */
interface OnreadSymbols {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

let symbols: OnreadSymbols | null | undefined;

function findSymbols(): OnreadSymbols | null {
  try {
    const probe = new net.Socket();
    let buffer: symbol | undefined;
    let callback: symbol | undefined;
    let generator: symbol | undefined;
    for (const s of Object.getOwnPropertySymbols(probe)) {
      if (s.description === 'kBuffer') buffer = s;
      else if (s.description === 'kBufferCb') callback = s;
      else if (s.description === 'kBufferGen') generator = s;
    }
    probe.destroy();
    if (buffer === undefined || callback === undefined || generator === undefined) return null;
    // A plain socket holds null in all three; anything else means the fields are not what we think.
    const fields = probe as unknown as Record<symbol, unknown>;
    if (fields[buffer] !== null || fields[callback] !== null || fields[generator] !== null) return null;
    return { buffer, callback, generator };
  } catch {
    return null;
  }
}

/** True when this Node has the internals `readIntoSharedBuffer` relies on. */
export function sharedReadsSupported(): boolean {
  if (symbols === undefined) symbols = findSymbols();
  return symbols !== null;
}

/**
 * Make `socket` deliver its reads as `onRead(nread, buffer)` calls instead of 'data' events. Returns false
 * (and changes nothing) when that is not possible; the caller then reads 'data' events as usual. Call it
 * before any data was read (in the server's 'connection' listener). Keeping a 'data' listener as well is
 * harmless: it then never fires.
 */
export function readIntoSharedBuffer(
  socket: net.Socket,
  buffer: Buffer,
  onRead: SharedReadCallback,
): boolean {
  if (!sharedReadsSupported()) return false;
  const s = symbols!;
  // Subclasses (TLSSocket) read through other layers; only a plain accepted TCP socket qualifies.
  if (Object.getPrototypeOf(socket) !== net.Socket.prototype) return false;
  if (socket.destroyed || socket.connecting || socket.readableLength !== 0) return false;
  const handle = (socket as unknown as SocketInternals)._handle;
  if (handle === null || typeof handle !== 'object' || typeof handle.useUserBuffer !== 'function') {
    return false;
  }
  const fields = socket as unknown as Record<symbol, unknown>;
  if (fields[s.buffer] !== null || fields[s.callback] !== null || fields[s.generator] !== null) return false;
  try {
    handle.useUserBuffer(buffer);
  } catch {
    return false;
  }
  fields[s.buffer] = buffer;
  fields[s.callback] = onRead;
  return true;
}

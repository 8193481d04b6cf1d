import net from 'node:net';

/**
 * A connection that sends `bytes` and reads nothing until `resume()`: the server's answers pile up in the
 * socket buffers and then in its own output queue. `received` resolves with every byte once it closes.
 */
export function slowReader(port: number, bytes: string): { resume: () => void; received: Promise<Buffer> } {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  const received = new Promise<Buffer>((resolve, reject) => {
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
  socket.pause();
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(bytes);
  return { resume: () => socket.resume(), received };
}

/** GETs of `targets` on one connection (pipelined), the last one asking to close it. */
export function pipelinedGets(targets: readonly string[]): string {
  return targets
    .map(
      (t, i) =>
        `GET ${t} HTTP/1.1\r\nhost: localhost\r\n${i === targets.length - 1 ? 'connection: close\r\n' : ''}\r\n`,
    )
    .join('');
}

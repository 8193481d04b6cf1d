/**
 * Command-line options shared by the peer servers: `--port P` plus `--root DIR` (static peers) or
 * `--upstream URL` (proxy peers). Each peer prints one "listening" line once it accepts connections.
 */
import { parseArgs } from 'node:util';

/** Options of a peer server. */
export interface PeerArgs {
  readonly port: number;
  readonly root: string;
  readonly upstream: string;
}

/** Parses the peer's argv; exits with a message naming the missing option. */
export function peerArgs(): PeerArgs {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      root: { type: 'string', default: '' },
      upstream: { type: 'string', default: '' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write('peer: --port <1-65535> is required\n');
    process.exit(2);
  }
  return { port, root: values.root, upstream: values.upstream };
}

/** Prints the line the harness logs (readiness itself is checked over HTTP). */
export function announce(name: string, port: number): void {
  process.stdout.write(`${name} listening on http://127.0.0.1:${port}\n`);
}

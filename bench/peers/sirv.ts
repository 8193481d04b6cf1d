/** Peer: sirv (production mode: the file list is read once at start-up) on node:http, serving `--root`. */
import { createServer } from 'node:http';
import sirv from 'sirv';
import { announce, peerArgs } from './args.ts';

const { port, root } = peerArgs();
const serve = sirv(root, { dev: false, etag: true });
createServer((req, res) => serve(req, res)).listen(port, '127.0.0.1', () => announce('sirv', port));

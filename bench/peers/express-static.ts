/** Peer: express 5 with express.static serving `--root`. */
import express from 'express';
import { announce, peerArgs } from './args.ts';

const { port, root } = peerArgs();
const app = express();
app.disable('x-powered-by');
app.use(express.static(root));
app.listen(port, '127.0.0.1', () => announce('express.static', port));

/**
 * Peer: node-http-proxy forwarding everything to `--upstream`, with a keep-alive agent (as nginx's
 * `upstream { keepalive 32; }`), so the comparison is pooled connections against pooled connections.
 */
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';
import { announce, peerArgs } from './args.ts';

const { port, upstream } = peerArgs();
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const proxy = httpProxy.createProxyServer({ target: upstream, agent });
proxy.on('error', (_error, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
createServer((req, res) => proxy.web(req, res)).listen(port, '127.0.0.1', () => announce('http-proxy', port));

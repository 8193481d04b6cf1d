/** Peer: fastify + @fastify/http-proxy (undici pool underneath, keep-alive by default) to `--upstream`. */
import fastifyHttpProxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import { announce, peerArgs } from './args.ts';

const { port, upstream } = peerArgs();
const app = Fastify({ logger: false });
await app.register(fastifyHttpProxy, { upstream });
await app.listen({ port, host: '127.0.0.1' });
announce('@fastify/http-proxy', port);

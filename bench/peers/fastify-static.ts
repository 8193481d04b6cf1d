/** Peer: fastify + @fastify/static serving `--root` (defaults as a user would deploy them, no logger). */
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import { announce, peerArgs } from './args.ts';

const { port, root } = peerArgs();
const app = Fastify({ logger: false });
await app.register(fastifyStatic, { root });
await app.listen({ port, host: '127.0.0.1' });
announce('@fastify/static', port);

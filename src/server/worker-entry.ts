/**
 * Entry point of a worker thread: start one worker from `workerData` and answer the primary's messages
 * (control calls, shutdown). See workers.ts for the other side of the conversation.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from './logger.ts';
import { startWorker, type WorkerParams } from './runtime.ts';
import type { FromWorker, ToWorker } from './workers.ts';

const port = parentPort!;
const post = (message: FromWorker) => {
  try {
    port.postMessage(message);
  } catch (error) {
    // A control result that cannot cross threads (a function, a socket): report that instead.
    if (message.type !== 'result') throw error;
    port.postMessage({
      type: 'result',
      id: message.id,
      error: `result is not plain data: ${errorMessage(error)}`,
    });
  }
};

try {
  const params = workerData as WorkerParams;
  if (typeof params.catalogue === 'string') await import(params.catalogue);
  const runtime = await startWorker(params);
  port.on('message', (message: ToWorker) => {
    if (message.type === 'control') {
      runtime.control(message.plugin, message.command, message.args).then(
        (result) => post({ type: 'result', id: message.id, result }),
        (error: unknown) => post({ type: 'result', id: message.id, error: errorMessage(error) }),
      );
    } else if (message.type === 'shutdown') {
      runtime.close().then(
        () => {
          post({ type: 'closed' });
          port.close();
        },
        (error: unknown) => {
          post({ type: 'failed', message: `shutdown: ${errorMessage(error)}` });
          port.close();
        },
      );
    }
  });
  post({ type: 'ready', port: runtime.port });
} catch (error) {
  const lines = (error as { lines?: () => string[] }).lines?.() ?? [errorMessage(error)];
  post({ type: 'failed', message: lines.join('\n'), code: (error as { code?: string }).code });
  port.close();
}

/** The executors of the node types that do work outside the engine, by node type. */
import type { NodeExecutor } from '../executor.ts';
import { commandExecutor } from './command.ts';
import { errorMessage, fail } from './errors.ts';
import { httpExecutor } from './http.ts';
import { llmExecutor } from './llm.ts';
import { loopExecutor } from './loop.ts';
import { mapExecutor } from './map.ts';
import { parallelExecutor } from './parallel.ts';

/** An executor that reports a throw (a bug, an unwritable workspace) as a failed attempt. */
function guarded(executor: NodeExecutor): NodeExecutor {
  return async (ctx) => {
    try {
      return await executor(ctx);
    } catch (error) {
      return fail(
        'ERR_NODE_INTERNAL',
        `the ${ctx.node.type} executor failed: ${errorMessage(error)}`,
      );
    }
  };
}

export const executors: ReadonlyMap<string, NodeExecutor> = new Map<string, NodeExecutor>([
  ['command', guarded(commandExecutor)],
  ['http', guarded(httpExecutor)],
  ['llm', guarded(llmExecutor)],
  ['parallel', guarded(parallelExecutor)],
  ['map', guarded(mapExecutor)],
  ['loop', guarded(loopExecutor)],
  // Completed by the engine at top level; inside parallel/map/loop it runs here.
  ['noop', () => Promise.resolve({ status: 'succeeded', outputs: {} })],
]);

export { nodeErrorCatalog, nodeErrorCodes, type NodeErrorCode } from './errors.ts';

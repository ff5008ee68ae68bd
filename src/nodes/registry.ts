/**
 * Every built-in node type, registered in one place (CONVENTIONS 9). The server hands its
 * registry to validation, the engine's plans and the worker; a test (or an embedding program) may
 * build one with more types (`createNodeRegistry([...builtinNodeTypes, myType])`).
 */
import { agentNode } from './agent.ts';
import { approvalNode } from './approval.ts';
import { commandNode } from './command.ts';
import { conditionNode } from './condition.ts';
import { httpNode } from './http.ts';
import { inputNode } from './input.ts';
import { llmNode } from './llm.ts';
import { loopNode } from './loop.ts';
import { mapNode } from './map.ts';
import type { NodeType } from './node-type.ts';
import { noopNode } from './noop.ts';
import { parallelNode } from './parallel.ts';
import { switchNode } from './switch.ts';
import { waitNode } from './wait.ts';
import { workflowNode } from './workflow.ts';

export const builtinNodeTypes: readonly NodeType[] = [
  commandNode,
  httpNode,
  llmNode,
  agentNode,
  approvalNode,
  inputNode,
  conditionNode,
  switchNode,
  parallelNode,
  mapNode,
  loopNode,
  waitNode,
  workflowNode,
  noopNode,
];

/** Node types by name, in registration order. */
export type NodeRegistry = ReadonlyMap<string, NodeType>;

/** A registry of `types`; a type must start itself or have an executor, and names are unique. */
export function createNodeRegistry(types: readonly NodeType[]): NodeRegistry {
  const registry = new Map<string, NodeType>();
  for (const spec of types) {
    if (registry.has(spec.type)) throw new Error(`node type '${spec.type}' is registered twice`);
    if (spec.start === undefined && spec.execute === undefined)
      throw new Error(`node type '${spec.type}' has neither start nor execute`);
    registry.set(spec.type, spec);
  }
  return registry;
}

/** The built-in types: what a server runs unless it is given others. */
export const builtinNodeRegistry: NodeRegistry = createNodeRegistry(builtinNodeTypes);

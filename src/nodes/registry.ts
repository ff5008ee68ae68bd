/** Every node type, registered in one place (CONVENTIONS 9). */
import { approvalNode } from './approval.ts';
import { commandNode } from './command.ts';
import { conditionNode } from './condition.ts';
import { httpNode } from './http.ts';
import { inputNode } from './input.ts';
import { llmNode } from './llm.ts';
import { loopNode } from './loop.ts';
import { mapNode } from './map.ts';
import type { NodeTypeSpec } from './node-type.ts';
import { noopNode } from './noop.ts';
import { parallelNode } from './parallel.ts';
import { switchNode } from './switch.ts';
import { waitNode } from './wait.ts';
import { workflowNode } from './workflow.ts';

const specs: NodeTypeSpec[] = [
  commandNode,
  httpNode,
  llmNode,
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

export const nodeTypes: ReadonlyMap<string, NodeTypeSpec> = new Map(
  specs.map((spec) => [spec.type, spec]),
);

/** The registered type names, in registration order. */
export const knownNodeTypes: readonly string[] = specs.map((spec) => spec.type);

export function getNodeType(type: string): NodeTypeSpec | undefined {
  return nodeTypes.get(type);
}

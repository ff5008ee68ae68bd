/** Validation and YAML round trip of a 1,000-node chain (the size cap), in-process. */
import {
  defaultDefinitionLimits,
  parseWorkflowYaml,
  validateDefinitionParts,
  workflowToYaml,
} from '../src/definition/index.ts';
import { builtinNodeRegistry as types } from '../src/nodes/registry.ts';
import type { WorkflowDefinition } from '../src/definition/index.ts';
import { summarize } from './stats.ts';

const nodes = Array.from({ length: 1000 }, (_, i) => ({
  id: `step_${i}`,
  type: 'command',
  run: `echo \${{ nodes.step_${Math.max(0, i - 1)}.outputs.x }}`,
  ...(i > 0 && { needs: [`step_${i - 1}`] }),
  if: 'params.go == true',
  env: { N: String(i) },
}));
const rounds = 20;
const validate: number[] = [];
const roundTrip: number[] = [];
for (let r = 0; r < rounds + 3; r++) {
  let t0 = performance.now();
  const parts = validateDefinitionParts({ graph: { nodes } }, defaultDefinitionLimits, types);
  const v = performance.now() - t0;
  const def: WorkflowDefinition = {
    name: 'big',
    description: '',
    type: 'automation',
    variables: {},
    runtimeConfig: {},
    triggerConfig: [],
    graph: parts.graph!,
  };
  t0 = performance.now();
  parseWorkflowYaml(workflowToYaml(def, types), defaultDefinitionLimits, types);
  const y = performance.now() - t0;
  if (r >= 3) {
    validate.push(v);
    roundTrip.push(y);
  }
}
const v = summarize(validate);
const y = summarize(roundTrip);
process.stdout.write(
  `${JSON.stringify({ bench: 'definition_1000_nodes', rounds, validate_p50_ms: v.p50_ms, validate_p99_ms: v.p99_ms, yaml_roundtrip_p50_ms: y.p50_ms, yaml_roundtrip_p99_ms: y.p99_ms })}\n`,
);

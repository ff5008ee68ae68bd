/**
 * The definition functions bound to the built-in node types (what a server without extra types
 * uses), and the problems the definition check lists for `parts` ([] when it accepts them).
 */
import assert from 'node:assert/strict';
import {
  type DefinitionLimits,
  type DefinitionParts,
  type ValidatedParts,
  type WorkflowDefinition,
  defaultDefinitionLimits,
  parseWorkflowYaml as parseWith,
  validateDefinitionParts as validateWith,
  workflowToYaml as toYamlWith,
} from '../../src/definition/index.ts';
import { AppError } from '../../src/errors.ts';
import { builtinNodeRegistry } from '../../src/nodes/registry.ts';

export function validateDefinitionParts(
  parts: DefinitionParts,
  limits: DefinitionLimits,
  warnings?: Problem[],
): ValidatedParts {
  return validateWith(parts, limits, builtinNodeRegistry, warnings);
}

export function parseWorkflowYaml(
  text: string,
  limits: DefinitionLimits,
  warnings?: Problem[],
): WorkflowDefinition {
  return parseWith(text, limits, builtinNodeRegistry, warnings);
}

export function workflowToYaml(def: WorkflowDefinition): string {
  return toYamlWith(def, builtinNodeRegistry);
}

export interface Problem {
  path: string;
  message: string;
}

export function definitionProblems(
  parts: DefinitionParts,
  limits: DefinitionLimits = defaultDefinitionLimits,
): Problem[] {
  try {
    validateDefinitionParts(parts, limits);
  } catch (err) {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_WORKFLOW_INVALID');
    return err.details;
  }
  return [];
}

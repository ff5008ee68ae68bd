/** The problems the definition check lists for `parts` ([] when it accepts them). */
import assert from 'node:assert/strict';
import {
  type DefinitionLimits,
  type DefinitionParts,
  defaultDefinitionLimits,
  validateDefinitionParts,
} from '../../src/definition/index.ts';
import { AppError } from '../../src/errors.ts';

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

/**
 * What the routes add to the wire schemas (`src/wire/`): path parameters, the error responses
 * and the empty-body hook. The request and response shapes themselves live in `src/wire/`.
 */
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ErrorBodySchema } from '../wire/common.ts';

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [s, { ...ErrorBodySchema, $id: undefined, description: `Error (${s})` }]),
  );

/**
 * preValidation hook for routes whose JSON body is optional: a request without a body validates
 * (and reaches the handler) as `{}`, since the schema compiler cannot accept `undefined`.
 */
export function emptyBodyIsEmptyObject(req: FastifyRequest): Promise<void> {
  if (req.body === undefined) req.body = {};
  return Promise.resolve();
}

export const WorkflowIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
export const VersionParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  version: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }),
});
export const ExecutionIdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  execId: Type.String({ minLength: 1, maxLength: 64 }),
});

import { Type } from 'typebox';
import { HeaderMap, nodeSchema } from '../definition/model.ts';
import type { NodeTypeSpec } from './node-type.ts';

export const httpMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

const StatusCode = Type.Integer({ minimum: 100, maximum: 599 });

/** An HTTP call; the response (status, headers, JSON or text body) becomes the outputs. */
export const HttpNodeSchema = nodeSchema('http', {
  url: Type.String({ minLength: 1, 'x-format': 'http-url' }),
  method: Type.Optional(Type.Union(httpMethods.map((m) => Type.Literal(m)))),
  headers: Type.Optional(HeaderMap()),
  body: Type.Optional(Type.Unknown()),
  expectStatus: Type.Optional(Type.Union([StatusCode, Type.Array(StatusCode, { minItems: 1 })])),
});

export const httpNode: NodeTypeSpec = {
  type: 'http',
  schema: HttpNodeSchema,
  description: 'Calls an HTTP endpoint; fails on an unexpected status (default: any 2xx).',
};

/**
 * Request validation. Bodies are checked strictly (no coercion, unknown fields rejected, every
 * problem listed); query strings and path params are coerced from text.
 */
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { ErrorDetail } from '../errors.ts';

// ajv-formats ships CommonJS with a default export.
const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    coerceTypes: coerce ? 'array' : false,
    removeAdditional: false,
    useDefaults: true,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

const strictAjv = makeAjv(false);
const coercingAjv = makeAjv(true);

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? strictAjv : coercingAjv;
  return ajv.compile(schema as object);
};

/** Turns ajv errors into `{path, message}` details with paths like `body.graph.nodes[0].id`. */
export function ajvDetails(
  errors: ErrorObject[] | Partial<ErrorObject>[],
  part: string,
): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    let where = (e.instancePath ?? '')
      .split('/')
      .slice(1)
      .map((seg) =>
        /^\d+$/.test(seg) ? `[${seg}]` : `.${seg.replace(/~1/g, '/').replace(/~0/g, '~')}`,
      )
      .join('');
    let message = e.message ?? 'is invalid';
    const params = (e.params ?? {}) as Record<string, unknown>;
    if (e.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
      where += `.${params.additionalProperty}`;
      message = 'is not a known field';
    } else if (e.keyword === 'required' && typeof params.missingProperty === 'string') {
      where += `.${params.missingProperty}`;
      message = 'is required';
    } else if (e.keyword === 'enum' && Array.isArray(params.allowedValues)) {
      message = `must be one of ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    const detail = { path: `${part}${where}`, message };
    const key = `${detail.path}|${detail.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(detail);
    }
  }
  return out;
}

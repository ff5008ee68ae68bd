import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { errorCodes } from '../../src/errors.ts';
import { buildOpenApiDocument } from '../helpers/openapi.ts';

const root = path.resolve(import.meta.dirname, '../..');

describe('OpenAPI document', () => {
  it('is a valid OpenAPI 3 document covering every seed route built so far', async () => {
    const doc = (await buildOpenApiDocument()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.ok(result.valid, JSON.stringify(result.errors, null, 2)?.slice(0, 3000));
    assert.match(doc.openapi, /^3\./);
    const expected: [string, string][] = [
      ['get', '/api/v1/workflows'],
      ['post', '/api/v1/workflows'],
      ['get', '/api/v1/workflows/{id}'],
      ['patch', '/api/v1/workflows/{id}'],
      ['delete', '/api/v1/workflows/{id}'],
      ['get', '/api/v1/workflows/{id}/versions'],
      ['get', '/api/v1/workflows/{id}/versions/{version}'],
      ['post', '/api/v1/workflows/{id}/versions/{version}/restore'],
      ['post', '/api/v1/workflows/{id}/publish'],
      ['post', '/api/v1/workflows/{id}/promote'],
      ['get', '/api/v1/workflows/{id}/export'],
      ['post', '/api/v1/workflows/import'],
      ['post', '/api/v1/tokens'],
      ['get', '/api/v1/tokens'],
      ['delete', '/api/v1/tokens/{id}'],
      ['get', '/api/v1/workflows/{id}/executions/{execId}/artifacts'],
      ['get', '/api/v1/workflows/{id}/executions/{execId}/artifacts/{*}'],
      ['get', '/healthz'],
      ['get', '/readyz'],
      ['get', '/metrics'],
    ];
    for (const [method, p] of expected)
      assert.ok(doc.paths[p]?.[method], `${method.toUpperCase()} ${p} missing`);
  });

  it('matches the committed docs/openapi.json (run `npm run openapi` after changing routes)', async () => {
    const committed = JSON.parse(
      readFileSync(path.join(root, 'docs/openapi.json'), 'utf8'),
    ) as unknown;
    assert.deepEqual(committed, JSON.parse(JSON.stringify(await buildOpenApiDocument())));
  });
});

describe('error catalog', () => {
  it('docs/api.md lists exactly the codes that exist', () => {
    const doc = readFileSync(path.join(root, 'docs/api.md'), 'utf8');
    const documented = new Set(doc.match(/\bERR_[A-Z_]+\b/g) ?? []);
    assert.deepEqual([...documented].sort(), [...errorCodes].sort());
  });
});

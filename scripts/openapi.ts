/** Writes docs/openapi.json from the route schemas (`npm run openapi`); a test keeps it current. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildOpenApiDocument } from '../test/helpers/openapi.ts';

const file = path.resolve(import.meta.dirname, '../docs/openapi.json');
writeFileSync(file, `${JSON.stringify(await buildOpenApiDocument(), null, 2)}\n`);
process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);

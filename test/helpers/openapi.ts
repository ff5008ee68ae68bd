/** The OpenAPI document as the app generates it, from an in-memory instance. */
import { rmSync } from 'node:fs';
import { defaultConfig } from '../../src/config.ts';
import { composeSwitchyard } from '../../src/server.ts';
import { freshPlace } from './dialects.ts';

export async function buildOpenApiDocument(): Promise<unknown> {
  const place = freshPlace('sqlite');
  const yard = await composeSwitchyard({
    config: {
      ...defaultConfig,
      dataDir: place.dataDir,
      adminToken: `sy_${'0'.repeat(40)}`,
      logLevel: 'silent',
    },
    sqlitePath: ':memory:',
  });
  try {
    return yard.app.swagger();
  } finally {
    await yard.close();
    rmSync(place.dataDir, { recursive: true, force: true });
  }
}

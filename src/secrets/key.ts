/**
 * Where the secrets key comes from: config `secretsKey` (base64), or `<dataDir>/secrets.key`
 * beside the admin token, generated with mode 0600 on the first start that needs it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateSecretsKey, parseSecretsKey } from './crypto.ts';

/** The server cannot have its secrets key: a bad key, or another key than the database's. */
export class SecretsKeyError extends Error {}

export function loadSecretsKey(opts: { secretsKey: string; dataDir: string }): Buffer {
  if (opts.secretsKey !== '') {
    try {
      return parseSecretsKey(opts.secretsKey);
    } catch (err) {
      throw new SecretsKeyError(
        `switchyard: secretsKey (SWITCHYARD_SECRETS_KEY): ${(err as Error).message}`,
      );
    }
  }
  const file = path.join(opts.dataDir, 'secrets.key');
  if (!existsSync(file)) {
    // 'wx': two servers starting on one data directory never overwrite each other's key.
    try {
      writeFileSync(file, `${generateSecretsKey().toString('base64')}\n`, {
        mode: 0o600,
        flag: 'wx',
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  try {
    return parseSecretsKey(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SecretsKeyError(`switchyard: ${file}: ${(err as Error).message}`);
  }
}

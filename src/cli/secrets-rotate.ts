/**
 * `yard secrets rotate`: re-seals every stored secret under a new key in one transaction,
 * opening the database from the server's configuration as `yard migrate` does (--data-dir,
 * --database-url, --config, the environment). Keys never need the command line: the old key
 * comes from --old-key-file, else from where the server takes it (secretsKey /
 * SWITCHYARD_SECRETS_KEY, else <dataDir>/secrets.key); the new key from --new-key-file, else
 * SWITCHYARD_NEW_SECRETS_KEY. A key file in the data directory is replaced only after the commit.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Config, ConfigError, loadConfig, parseFlags, redactUrl } from '../config.ts';
import { keyFingerprint, parseSecretsKey } from '../secrets/crypto.ts';
import { SecretsKeyError } from '../secrets/key.ts';
import { rotateSecretsKey } from '../server.ts';

/** The flags of this command; the rest are the server's (parseFlags). */
const ownFlags = ['old-key-file', 'new-key-file'] as const;
type OwnFlag = (typeof ownFlags)[number];

const newKeyEnv = 'SWITCHYARD_NEW_SECRETS_KEY';

export async function rotate(argv: string[]): Promise<void> {
  try {
    const { own, rest } = splitFlags(argv);
    const flags = parseFlags(rest);
    const config = loadConfig({
      overrides: flags.values,
      ...(flags.configFile !== undefined && { configFile: flags.configFile }),
    });
    const old = oldKey(config, own['old-key-file']);
    const newKey = readNewKey(own['new-key-file']);
    await rotateWith(config, old, newKey);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof SecretsKeyError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function rotateWith(
  config: Config,
  old: { key: Buffer; dataDirFile?: string },
  newKey: Buffer,
): Promise<void> {
  const where = config.databaseUrl
    ? redactUrl(config.databaseUrl)
    : path.join(config.dataDir, 'switchyard.db');
  // The new key file is written before the transaction (a full disk fails here, changing
  // nothing) and renamed over the old one after the commit: the data directory never holds a
  // key the database does not have, except between the commit and the rename.
  const staged = old.dataDirFile === undefined ? undefined : `${old.dataDirFile}.new`;
  if (staged !== undefined) {
    // A leftover of an interrupted run goes first: 'wx' creates the file with mode 0600.
    rmSync(staged, { force: true });
    writeFileSync(staged, `${newKey.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  }
  let counts;
  try {
    counts = await rotateSecretsKey(config, { oldKey: old.key, newKey });
  } catch (err) {
    if (staged !== undefined) rmSync(staged, { force: true });
    throw err;
  }
  const fingerprint = keyFingerprint(newKey);
  const lines = [
    `rotated the secrets key of ${where} to fingerprint ${fingerprint}: ` +
      `${counts.values} secret values, ${counts.hookSecrets} hook secrets and ${counts.ruleSecrets} trigger-rule secrets re-sealed`,
  ];
  if (staged !== undefined && old.dataDirFile !== undefined) {
    try {
      renameSync(staged, old.dataDirFile);
    } catch (err) {
      process.stderr.write(
        `${lines[0]}\nbut ${old.dataDirFile} could not be replaced (${(err as Error).message}).\n` +
          `Move ${staged} to ${old.dataDirFile} (mode 0600) before starting a server: the database now needs the new key.\n`,
      );
      process.exitCode = 1;
      return;
    }
    lines.push(
      `${old.dataDirFile} now holds the new key. Start the servers of this database with it.`,
    );
  } else {
    lines.push(
      'Start every server of this database with the new key (secretsKey / SWITCHYARD_SECRETS_KEY); a server with the old key refuses to start.',
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `--name value` and `--name=value` of this command's own flags, apart from the rest. */
function splitFlags(argv: string[]): { own: Partial<Record<OwnFlag, string>>; rest: string[] } {
  const own: Partial<Record<OwnFlag, string>> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = ownFlags.find((f) => f === m?.[1]);
    if (name === undefined) {
      rest.push(arg);
      continue;
    }
    const value = m?.[2] ?? argv[++i];
    if (value === undefined) throw new ConfigError(`secrets rotate: --${name} needs a file`);
    own[name] = value;
  }
  return { own, rest };
}

/** The old key and, when it is the data directory's key file, that file (to replace). */
function oldKey(config: Config, file: string | undefined): { key: Buffer; dataDirFile?: string } {
  const dataDirFile = path.resolve(config.dataDir, 'secrets.key');
  if (file !== undefined) {
    const key = readKeyFile(file, '--old-key-file');
    return path.resolve(file) === dataDirFile ? { key, dataDirFile } : { key };
  }
  if (config.secretsKey !== '') {
    try {
      return { key: parseSecretsKey(config.secretsKey) };
    } catch (err) {
      throw new SecretsKeyError(
        `switchyard: secretsKey (SWITCHYARD_SECRETS_KEY): ${(err as Error).message}`,
      );
    }
  }
  // Never generated here: a missing key file means this is not the server's data directory.
  if (!existsSync(dataDirFile))
    throw new SecretsKeyError(
      `switchyard: no old key: secretsKey (SWITCHYARD_SECRETS_KEY) is not set and ${dataDirFile} does not exist; give --old-key-file, or the server's --data-dir.`,
    );
  return { key: readKeyFile(dataDirFile, dataDirFile), dataDirFile };
}

function readNewKey(file: string | undefined): Buffer {
  if (file !== undefined) return readKeyFile(file, '--new-key-file');
  const text = process.env[newKeyEnv] ?? '';
  if (text === '')
    throw new SecretsKeyError(
      `switchyard: no new key: give --new-key-file FILE (e.g. made with \`openssl rand -base64 32 > FILE\`) or set ${newKeyEnv}.`,
    );
  try {
    return parseSecretsKey(text);
  } catch (err) {
    throw new SecretsKeyError(`switchyard: ${newKeyEnv}: ${(err as Error).message}`);
  }
}

function readKeyFile(file: string, what: string): Buffer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SecretsKeyError(`switchyard: ${what}: ${(err as Error).message}`);
  }
  try {
    return parseSecretsKey(text);
  } catch (err) {
    throw new SecretsKeyError(`switchyard: ${what} ${file}: ${(err as Error).message}`);
  }
}

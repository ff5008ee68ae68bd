/** An in-process Switchyard on a fresh database, driven through `app.inject`. */
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { type Config, defaultConfig } from '../../src/config.ts';
import { type ComposeOptions, composeSwitchyard, type Switchyard } from '../../src/server.ts';
import type { Clock } from '../../src/clock.ts';
import { type DialectName, type DialectPlace, freshPlace } from './dialects.ts';

export const adminToken = `sy_${'a'.repeat(40)}`;

export interface Harness {
  yard: Switchyard;
  dialect: DialectName;
  /** The server's data directory (artifacts, workspaces). */
  dataDir: string;
  /** Sends a request with the admin token unless `token` is given (null sends none). */
  call(
    /** An HTTP method (tests pass them from tables, as plain strings). */
    method: string,
    url: string,
    body?: unknown,
    opts?: { token?: string | null; headers?: Record<string, string> },
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

type ComposeOnOptions = { config?: Partial<Config>; token?: string } & Omit<
  ComposeOptions,
  'config' | 'sqlitePath' | 'pgSchema'
>;

/**
 * A Switchyard composed on `place`'s database and data directory (again after a restart, or a
 * second server of it); `config` overrides the defaults.
 */
export function composeOn(place: DialectPlace, opts: ComposeOnOptions = {}): Promise<Switchyard> {
  const { config, token, ...rest } = opts;
  return composeSwitchyard({
    ...rest,
    config: {
      ...defaultConfig,
      dataDir: place.dataDir,
      databaseUrl: place.databaseUrl,
      adminToken: token ?? adminToken,
      logLevel: 'silent',
      // Closing a test's server stops what still runs at once (draining is test/e2e/drain.test.ts).
      drainTimeoutMs: 0,
      ...config,
    },
    ...(place.sqlitePath !== undefined && { sqlitePath: place.sqlitePath }),
    ...(place.pgSchema !== undefined && { pgSchema: place.pgSchema }),
  });
}

/** A Switchyard composed on a fresh database (tests and benchmarks); `config` overrides the defaults. */
export async function composeOnFreshPlace(
  dialect: DialectName,
  opts: ComposeOnOptions = {},
): Promise<{ yard: Switchyard; place: DialectPlace }> {
  const place = freshPlace(dialect);
  return { yard: await composeOn(place, opts), place };
}

export async function startHarness(
  dialect: DialectName,
  opts: {
    clock?: Clock;
    config?: Partial<typeof defaultConfig>;
    artifacts?: ComposeOptions['artifacts'];
    nodeTypes?: ComposeOptions['nodeTypes'];
  } = {},
): Promise<Harness> {
  const { yard, place } = await composeOnFreshPlace(dialect, {
    // API tests mark runs in host files that a sandbox would hide; sandboxes are tested in
    // test/unit/runtime-*.test.ts, test/integration/runtime-api.test.ts and sandbox-hostile.test.ts.
    config: { localIsolation: 'none', runtime: 'local', ...opts.config },
    ...(opts.clock !== undefined && { clock: opts.clock }),
    ...(opts.artifacts !== undefined && { artifacts: opts.artifacts }),
    ...(opts.nodeTypes !== undefined && { nodeTypes: opts.nodeTypes }),
  });
  return {
    yard,
    dialect,
    dataDir: place.dataDir,
    call: async (method, url, body, o = {}) => {
      const headers: Record<string, string> = { ...o.headers };
      const token = o.token === undefined ? adminToken : o.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      const req: InjectOptions = { method: method as InjectOptions['method'], url, headers };
      if (body !== undefined) {
        if (typeof body === 'string' || Buffer.isBuffer(body)) req.payload = body;
        else req.payload = body as InjectOptions['payload'];
      }
      return yard.app.inject(req);
    },
    close: async () => {
      await yard.close();
      await place.cleanup();
    },
  };
}

/**
 * PostgreSQL LISTEN/NOTIFY: how processes sharing one database wake each other's idle workers
 * and streams. A NOTIFY is sent inside the writing transaction, so it is delivered on commit.
 */
import pg from 'pg';

/** The NOTIFY channel that wakes idle workers of every process sharing the database. */
export const workChannel = 'switchyard_work';

/**
 * NOTIFY channels that wake stream subscribers; the payload is the execution id, followed by a
 * space and the writer's id when the writer also tells its own process (see `changePayload`).
 */
export const changeChannels = {
  events: 'switchyard_events',
  logs: 'switchyard_logs',
} as const;

/** The payload announcing a change of `executionId`, written by `from` when named. */
export function changePayload(executionId: string, from?: string): string {
  return from === undefined ? executionId : `${executionId} ${from}`;
}

/** The execution id and writer of a payload (no execution id: anything may have changed). */
export function changeOf(payload: string | undefined): [string | undefined, string | undefined] {
  if (payload === undefined || payload === '') return [undefined, undefined];
  const space = payload.indexOf(' ');
  return space < 0 ? [payload, undefined] : [payload.slice(0, space), payload.slice(space + 1)];
}

const firstRetryMs = 100;
const maxRetryMs = 5_000;

/**
 * A dedicated connection LISTENs on `channels`. When it dies (a PostgreSQL restart, a network
 * drop) it is re-established with jittered exponential backoff until stopped, and then
 * `onNotify` is called once per channel without a payload: notifications sent while it was
 * down were missed, so listeners look again. The connection's `'error'` events are always
 * handled, so a dying connection never crashes the process.
 */
export async function listenPostgres(
  config: pg.ClientConfig,
  channels: readonly string[],
  onNotify: (channel: string, payload: string | undefined) => void,
): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let delay = firstRetryMs;

  const scheduleReconnect = (): void => {
    if (stopped || retryTimer) return;
    retryTimer = setTimeout(
      () => {
        retryTimer = undefined;
        void connect();
      },
      delay * (0.5 + Math.random()),
    );
    delay = Math.min(maxRetryMs, delay * 2);
  };

  const connect = async (): Promise<void> => {
    if (stopped) return;
    const c = new pg.Client(config);
    let lost = false;
    // Called once per connection, for whichever comes first: an error, the end, a failed LISTEN.
    const drop = (err?: unknown): void => {
      if (lost) return;
      lost = true;
      if (client === c) {
        client = undefined;
        if (!stopped)
          process.stderr.write(
            `switchyard: lost the database notification connection (${(err as Error | undefined)?.message ?? 'ended'}); reconnecting\n`,
          );
      }
      void c.end().catch(() => {});
      scheduleReconnect();
    };
    c.on('notification', (n) => onNotify(n.channel, n.payload));
    c.on('error', drop);
    c.on('end', () => drop());
    try {
      await c.connect();
      for (const channel of channels) await c.query(`LISTEN ${channel}`);
    } catch (err) {
      drop(err);
      return;
    }
    if (lost) return;
    if (stopped) {
      lost = true;
      await c.end().catch(() => {});
      return;
    }
    client = c;
    delay = firstRetryMs;
    for (const channel of channels) onNotify(channel, undefined); // anything missed meanwhile
  };

  await connect();
  return async () => {
    stopped = true;
    clearTimeout(retryTimer);
    retryTimer = undefined;
    const c = client;
    client = undefined;
    await c?.end().catch(() => {});
  };
}

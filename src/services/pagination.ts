/** Opaque cursors for `?limit=&cursor=` lists: base64url of the last id seen. */
import { AppError } from '../errors.ts';
import type { Page } from '../wire/common.ts';

/** The page shape is the wire's (`pageOf` in src/wire/common.ts). */
export type { Page };

function encodeCursor(lastId: string): string {
  return Buffer.from(JSON.stringify({ after: lastId })).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (v && typeof v === 'object' && typeof (v as { after?: unknown }).after === 'string')
      return (v as { after: string }).after;
  } catch {
    // fall through to the error below
  }
  throw new AppError('ERR_VALIDATION', {
    message: 'The cursor is not valid.',
    details: [{ path: 'cursor', message: 'not a cursor returned by this API' }],
  });
}

/** Fetches limit+1 rows to know whether another page exists. */
export function toPage<R extends { id: string }, T>(
  rows: R[],
  limit: number,
  map: (r: R) => T,
): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept[kept.length - 1];
  return { items: kept.map(map), nextCursor: more && last ? encodeCursor(last.id) : null };
}

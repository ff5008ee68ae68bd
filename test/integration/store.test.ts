import assert from 'node:assert/strict';
import { describe, it } from '../helpers/suite.ts';
import { sql } from 'kysely';
import { migrations } from '../../src/store/migrations/index.ts';
import { claimSetting } from '../../src/store/settings.ts';
import { dialectNames, freshPlace, openPlace, skipFor } from '../helpers/dialects.ts';

for (const dialect of dialectNames) {
  describe(`storage (${dialect})`, { skip: await skipFor(dialect) }, () => {
    it('migrates once even when several processes start at the same moment', async () => {
      const place = freshPlace(dialect);
      const open = () => openPlace(place);
      try {
        // Separate connections (pools / SQLite handles) racing through the migration runner.
        const dbs = await Promise.all([open(), open(), open(), open()]);
        const applied = await dbs[0].db
          .selectFrom('schema_migrations')
          .select(['id', 'name'])
          .orderBy('id')
          .execute();
        assert.deepEqual(
          applied,
          migrations.map((m) => ({ id: m.id, name: m.name })),
        );
        // A reopen applies nothing new.
        const again = await open();
        const count = await again.db
          .selectFrom('schema_migrations')
          .select((eb) => eb.fn.countAll<string | number>().as('n'))
          .executeTakeFirstOrThrow();
        assert.equal(Number(count.n), migrations.length);
        await again.ping();
        // Exactly one of many claimers wins a setting.
        const wins = await Promise.all(dbs.map((d) => claimSetting(d.db, 'once', 'x')));
        assert.equal(wins.filter(Boolean).length, 1);
        await Promise.all([...dbs, again].map((d) => d.close()));
      } finally {
        await place.cleanup();
      }
    });

    it('rolls a failed transaction back', async () => {
      const place = freshPlace(dialect);
      const database = await openPlace(place);
      try {
        await assert.rejects(
          database.transaction(async (trx) => {
            await trx.insertInto('settings').values({ key: 'k', value: 'v' }).execute();
            throw new Error('boom');
          }),
          /boom/,
        );
        const rows = await sql<{ n: number }>`select count(*) as n from settings`.execute(
          database.db,
        );
        assert.equal(Number(rows.rows[0]!.n), 0);
      } finally {
        await database.close();
        await place.cleanup();
      }
    });
  });
}

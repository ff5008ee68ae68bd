/** Schedule triggers in definitions: cron or every, ids, policies, the max_catchup alias. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  definitionProblems,
  parseWorkflowYaml,
  validateDefinitionParts,
} from '../helpers/definition.ts';
import { AppError } from '../../src/errors.ts';
import {
  defaultDefinitionLimits,
  namedSchedules,
  type DefinitionParts,
} from '../../src/definition/index.ts';

const limits = defaultDefinitionLimits;

const problems = (parts: DefinitionParts) => definitionProblems(parts, limits);

function yamlProblems(text: string): { path: string; message: string }[] {
  try {
    parseWorkflowYaml(text, limits);
  } catch (err) {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    return err.details;
  }
  return [];
}

const yamlWith = (triggers: string) =>
  `name: sched\nnodes:\n  - id: a\n    type: noop\ntriggers:\n${triggers}`;

describe('schedule triggers', () => {
  it('lists every problem with its path', () => {
    const details = problems({
      triggerConfig: [
        { type: 'schedule' },
        { type: 'schedule', cron: '* * * * *', every: '5m' },
        { type: 'schedule', every: '500ms' },
        { type: 'schedule', cron: '61 * * * *', timezone: 'Mars/Olympus' },
        { type: 'schedule', every: '1m', overlap: 'queue', catchup: 'never' },
        { type: 'schedule', id: 'nightly', cron: '0 3 * * *' },
        { type: 'schedule', id: 'nightly', every: '1h' },
        { type: 'schedule', id: 'Bad Id', every: '1h' },
        { type: 'schedule', every: '1h', timezone: 'UTC' },
        { type: 'schedule', every: '1h', jitter: 'soon' },
      ],
    });
    const byPath = new Map(details.map((d) => [d.path, d.message]));
    assert.deepEqual(
      details.map((d) => d.path),
      [
        'triggerConfig[3].cron',
        'triggerConfig[3].timezone',
        'triggerConfig[4].overlap',
        'triggerConfig[4].catchup',
        'triggerConfig[7].id',
        'triggerConfig[9].jitter',
        'triggerConfig[0]',
        'triggerConfig[1].every',
        'triggerConfig[2].every',
        'triggerConfig[6].id',
        'triggerConfig[8].timezone',
      ],
    );
    assert.match(byPath.get('triggerConfig[0]')!, /either cron or every/);
    assert.match(byPath.get('triggerConfig[1].every')!, /together with cron/);
    assert.match(byPath.get('triggerConfig[2].every')!, /at least 1s/);
    assert.match(byPath.get('triggerConfig[3].cron')!, /invalid cron expression/);
    assert.match(byPath.get('triggerConfig[3].timezone')!, /unknown time zone/);
    assert.match(byPath.get('triggerConfig[4].overlap')!, /skip, buffer_one, buffer_all/);
    assert.match(byPath.get('triggerConfig[6].id')!, /duplicate schedule id 'nightly'/);
  });

  it('a default id that collides with an explicit one is a problem on the trigger', () => {
    const details = problems({
      triggerConfig: [
        { type: 'schedule', id: 'schedule-2', every: '1h' },
        { type: 'schedule', every: '2h' },
      ],
    });
    assert.deepEqual(
      details.map((d) => d.path),
      ['triggerConfig[1]'],
    );
    assert.match(
      details[0]!.message,
      /duplicate schedule id 'schedule-2'.*give this schedule an id/,
    );
  });

  it('accepts 5- and 6-field crons and every, and names them schedule-<n> by default', () => {
    const parts = validateDefinitionParts(
      {
        triggerConfig: [
          { type: 'manual' },
          { type: 'schedule', cron: '*/5 * * * *', timezone: 'Europe/Berlin' },
          { type: 'webhook', name: 'x' },
          { type: 'schedule', cron: '30 0 12 * * 1-5', id: 'noon', overlap: 'buffer_all' },
          { type: 'schedule', every: '30s', jitter: '2s', catchup: 'all', catchupLimit: 3 },
        ],
      },
      limits,
    );
    // The stored definition stays as written: default ids are derived, not added.
    assert.equal((parts.triggerConfig![1] as { id?: string }).id, undefined);
    assert.deepEqual(
      namedSchedules(parts.triggerConfig!).map((s) => [s.id, s.index]),
      [
        ['schedule-1', 1],
        ['noon', 3],
        ['schedule-3', 4],
      ],
    );
  });

  it('YAML takes snake_case keys and max_catchup for catchup_limit, not both', () => {
    const def = parseWorkflowYaml(
      yamlWith(
        '  - type: schedule\n    cron: "0 * * * *"\n    catchup: all\n    max_catchup: 7\n    overlap: cancel_other\n',
      ),
      limits,
    );
    assert.deepEqual(def.triggerConfig, [
      {
        type: 'schedule',
        cron: '0 * * * *',
        catchup: 'all',
        catchupLimit: 7,
        overlap: 'cancel_other',
      },
    ]);
    const both = yamlProblems(
      yamlWith('  - type: schedule\n    every: 1m\n    catchup_limit: 2\n    max_catchup: 3\n'),
    );
    assert.deepEqual(
      both.map((d) => d.path),
      ['triggers[0].max_catchup'],
    );
    assert.match(both[0]!.message, /'catchup_limit' a second time/);
  });
});

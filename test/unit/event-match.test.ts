/** Which workflows a platform event starts, and why the others do not: a table. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Trigger } from '../../src/definition/index.ts';
import { defaultDefinitionLimits } from '../../src/definition/index.ts';
import { validateDefinitionParts } from '../helpers/definition.ts';
import { AppError } from '../../src/errors.ts';
import {
  type Listener,
  type PlatformEvent,
  matchListener,
  maxChainDepth,
} from '../../src/triggers/event-match.ts';

const push: PlatformEvent = {
  id: 'evt_1',
  type: 'git.push',
  subject: 'acme/app@abc',
  data: { branch: 'release/1.2', paths: ['docs/a.md', 'src/api/app.ts'], repository: 'acme/app' },
  source: 'hook:h1',
  actor: 'github',
  timestamp: '2025-01-01T00:00:00.000Z',
  chainDepth: 0,
};

const published = (...triggers: Trigger[]): Listener => ({
  workflowId: 'wf_1',
  workflowName: 'wf',
  workflowStatus: 'published',
  version: 2,
  versionStatus: 'published',
  triggers,
});

const ev = (event: string, rest: Partial<Extract<Trigger, { type: 'event' }>> = {}): Trigger => ({
  type: 'event',
  event,
  ...rest,
});

type Row = [name: string, listener: Listener, expected: 'match' | 'not_listening' | RegExp];

const table: Row[] = [
  ['exact type', published(ev('git.push')), 'match'],
  ['type glob', published(ev('git.*')), 'match'],
  ['another type is not listening', published(ev('pr.merged')), 'not_listening'],
  ['a manual trigger is not listening', published({ type: 'manual' }), 'not_listening'],
  ['branch glob', published(ev('git.push', { branches: ['main', 'release/*'] })), 'match'],
  [
    'branch outside the globs',
    published(ev('git.push', { branches: ['main'] })),
    /data\.branch 'release\/1\.2' matches none of \[main\]/,
  ],
  [
    'a single star does not cross a slash',
    published(ev('git.push', { branches: ['release*'] })),
    /matches none/,
  ],
  ['any path matching is enough', published(ev('git.push', { paths: ['src/**'] })), 'match'],
  [
    'no path matches',
    published(ev('git.push', { paths: ['lib/**', '*.md'] })),
    /none of the 2 paths in data\.paths matches \[lib\/\*\*, \*\.md\]/,
  ],
  ['repository glob', published(ev('git.push', { repositories: ['acme/*'] })), 'match'],
  [
    'another repository',
    published(ev('git.push', { repositories: ['other/*'] })),
    /data\.repository 'acme\/app' matches none/,
  ],
  [
    'CEL if true',
    published(ev('git.push', { if: "event.data.branch.startsWith('release/')" })),
    'match',
  ],
  [
    'CEL if over trigger',
    published(
      ev('git.push', {
        if: "trigger.data.repository == 'acme/app' && trigger.eventType == 'git.push'",
      }),
    ),
    'match',
  ],
  [
    'CEL if false',
    published(ev('git.push', { if: "event.subject == 'nope'" })),
    /if 'event\.subject == 'nope'' is false/,
  ],
  [
    'CEL if that fails says so',
    published(ev('git.push', { if: 'event.data.missing > 1' })),
    /could not be evaluated/,
  ],
  [
    'a second trigger may take what the first refuses',
    published(ev('git.push', { branches: ['main'] }), ev('git.*', { paths: ['src/**'] })),
    'match',
  ],
  [
    'draft',
    { ...published(ev('git.push')), workflowStatus: 'draft', versionStatus: 'draft' },
    /drafts never fire/,
  ],
  [
    'archived',
    { ...published(ev('git.push')), workflowStatus: 'archived', versionStatus: 'archived' },
    /archived workflows never fire/,
  ],
];

describe('event matching', () => {
  for (const [name, listener, expected] of table) {
    it(name, () => {
      const got = matchListener(push, listener);
      if (expected === 'match' || expected === 'not_listening') {
        assert.equal(got.kind, expected, JSON.stringify(got));
      } else {
        assert.equal(got.kind, 'no_match', JSON.stringify(got));
        assert.match((got as { reason: string }).reason, expected);
      }
    });
  }

  it('gives the run the event as its trigger', () => {
    const got = matchListener(push, published(ev('git.push')));
    assert.deepEqual(got, {
      kind: 'match',
      trigger: {
        type: 'event',
        eventType: 'git.push',
        subject: 'acme/app@abc',
        eventId: 'evt_1',
        actor: 'github',
        data: push.data,
        chainDepth: 0,
      },
    });
  });

  it('a branch filter needs a branch on the event', () => {
    const got = matchListener(
      { ...push, data: {} },
      published(ev('git.push', { branches: ['*'] })),
    );
    assert.deepEqual(got, {
      kind: 'no_match',
      reason: 'the trigger filters branches and the event has no data.branch',
    });
  });

  it(`stops a chain deeper than ${maxChainDepth}`, () => {
    const at = (chainDepth: number) =>
      matchListener(
        { ...push, type: 'execution.succeeded', chainDepth },
        published(ev('execution.*')),
      );
    assert.equal(at(maxChainDepth).kind, 'match');
    const past = at(maxChainDepth + 1);
    assert.equal(past.kind, 'no_match');
    assert.match((past as { reason: string }).reason, /11 execution events deep \(at most 10\)/);
  });
});

describe('event trigger definition', () => {
  it('accepts repositories and a CEL if, and lists a bad if with its path', () => {
    const ok = validateDefinitionParts(
      {
        triggerConfig: [
          {
            type: 'event',
            event: 'pr.merged',
            repositories: ['acme/*'],
            if: "event.subject != ''",
          },
        ],
      },
      defaultDefinitionLimits,
    );
    assert.equal(ok.triggerConfig?.length, 1);
    assert.throws(
      () =>
        validateDefinitionParts(
          { triggerConfig: [{ type: 'event', event: 'pr.merged', if: 'event.data.(' }] },
          defaultDefinitionLimits,
        ),
      (err: unknown) =>
        err instanceof AppError &&
        err.code === 'ERR_WORKFLOW_INVALID' &&
        err.details.map((d) => d.path).join() === 'triggerConfig[0].if',
    );
  });
});

/** The pure parts of trigger rules: save-time checks, matching, CEL params and the retry schedule. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PlatformEvent } from '../../src/triggers/event-match.ts';
import {
  eventGlobError,
  isRetryableStatus,
  matchRule,
  retryDelayMs,
  ruleParams,
  ruleProblems,
} from '../../src/triggers/rule-model.ts';

const event: PlatformEvent = {
  id: 'evt_1',
  type: 'pr.merged',
  subject: 'pr/7',
  data: { branch: 'main', paths: ['a', 'b'] },
  source: 'api',
  actor: 'ci',
  timestamp: '2026-01-01T00:00:00.000Z',
  chainDepth: 0,
};

describe('trigger rule model', () => {
  it('accepts type globs and names what is wrong with bad ones', () => {
    for (const ok of ['pr.merged', 'pr.*', '*', 'build.[ab]?', 'deploy-x.done_1'])
      assert.equal(eventGlobError(ok), undefined, ok);
    for (const bad of ['', ' ', 'pr/*', 'a..b', '.a', 'a.', 'a b', 'x.[ab', 'x.]'])
      assert.notEqual(eventGlobError(bad), undefined, bad);
  });

  it('lists every problem of a rule at once', () => {
    const problems = ruleProblems({
      event: 'a/b',
      if: 'event.(',
      action: { type: 'run', workflowId: 'wf_x', params: { '1x': 'true', ok: '1 +' } },
    });
    assert.deepEqual(problems.map((p) => p.path).sort(), [
      'action.params.1x',
      'action.params.ok',
      'event',
      'if',
    ]);
    const urls = ['ftp://x/y', 'not a url', 'http://user:pw@example.com/'].map(
      (url) => ruleProblems({ event: 'a', action: { type: 'webhook', url } }).length,
    );
    assert.deepEqual(urls, [1, 1, 1]);
    assert.deepEqual(
      ruleProblems({ event: 'a', action: { type: 'webhook', url: 'https://x/y' } }),
      [],
    );
  });

  it('matches by glob and if, and maps params with CEL over the event', () => {
    const rule = { name: 'r', event: 'pr.*', if: "event.data.branch == 'main'" };
    const m = matchRule(rule, event);
    assert.equal(m.kind, 'match');
    assert.equal(matchRule({ ...rule, event: 'git.*' }, event).kind, 'not_listening');
    assert.deepEqual(matchRule({ ...rule, if: "event.data.branch == 'dev'" }, event), {
      kind: 'no_match',
      reason: "if 'event.data.branch == 'dev'' is false",
    });
    assert.match(
      (matchRule({ ...rule, if: 'event.data.nope' }, event) as { reason: string }).reason,
      /could not be evaluated/,
    );
    if (m.kind !== 'match') return;
    assert.equal(m.trigger.actor, 'rule:r');
    assert.deepEqual(
      ruleParams(
        {
          type: 'run',
          workflowId: 'wf',
          params: { n: 'size(event.data.paths)', s: 'event.subject' },
        },
        event,
        m.trigger,
      ),
      { params: { n: 2, s: 'pr/7' } },
    );
    assert.match(
      (
        ruleParams(
          { type: 'run', workflowId: 'wf', params: { x: 'event.data.nope' } },
          event,
          m.trigger,
        ) as {
          error: string;
        }
      ).error,
      /param 'x'/,
    );
  });

  it('retries 5xx and 429 after 1, 2, 4 and 8 seconds', () => {
    assert.deepEqual([1, 2, 3, 4].map(retryDelayMs), [1000, 2000, 4000, 8000]);
    assert.deepEqual([200, 302, 400, 404, 429, 500, 503].map(isRetryableStatus), [
      false,
      false,
      false,
      false,
      true,
      true,
      true,
    ]);
  });
});

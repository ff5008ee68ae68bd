/**
 * An approval node's `approvers` are enforced on resume, on both dialects: a token not listed
 * gets 403 ERR_APPROVAL_FORBIDDEN; an admin (tokens.admin) may decide anyway only with
 * `override: true`, which the node's outputs record; without `approvers` any token with
 * workflows.run decides, as before.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  createWorkflow,
  executionUrl,
  nodeOf,
  runWorkflow,
  tokenWith,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

const gated = (name: string, approvers?: string[]) => ({
  name,
  graph: {
    nodes: [
      { id: 'gate', type: 'approval', message: 'ship?', ...(approvers && { approvers }) },
      { id: 'after', type: 'noop', needs: ['gate'] },
    ],
  },
});

for (const dialect of dialectNames) {
  describe(`approval approvers (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let alice: string;
    let bob: string;
    let ops: string;
    before(async () => {
      h = await startHarness(dialect);
      alice = await tokenWith(h, 'alice', ['workflows.read', 'workflows.run']);
      bob = await tokenWith(h, 'bob', ['workflows.read', 'workflows.run']);
      // Not an admin: may mint tokens no more than it may override (it lacks tokens.admin).
      ops = await tokenWith(h, 'ops', ['workflows.read', 'workflows.run', 'secrets.admin']);
    });
    after(async () => {
      await h?.close();
    });

    const waitingRun = async (wfId: string) => {
      const run = await runWorkflow(h, wfId);
      await waitForStatus(h, wfId, run.id, ['waiting']);
      return executionUrl(wfId, run.id);
    };

    it('a listed approver decides; another token gets 403 with the approvers named', async () => {
      const wf = await createWorkflow(h, gated('listed', ['alice', 'carol']));
      const url = await waitingRun(wf.id);

      let res = await h.call('POST', `${url}/resume`, { decision: 'approve' }, { token: bob });
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json().code, 'ERR_APPROVAL_FORBIDDEN');
      assert.match(
        res.json().error,
        /Token bob is not an approver of node gate \(approvers: alice, carol\)/,
      );
      // Asking to override does not help a token without tokens.admin.
      res = await h.call(
        'POST',
        `${url}/resume`,
        { decision: 'approve', override: true },
        { token: ops },
      );
      assert.equal(res.statusCode, 403, res.body);
      assert.match(res.json().error, /only a tokens\.admin token may override/);
      // An admin without the flag is refused like anyone else.
      res = await h.call('POST', `${url}/resume`, { decision: 'approve' });
      assert.equal(res.statusCode, 403, res.body);
      assert.match(res.json().error, /override: true/);
      res = await h.call('POST', `${url}/resume`, { decision: 'approve', override: 'yes' });
      assert.equal(res.statusCode, 400, res.body);

      res = await h.call('POST', `${url}/resume`, { decision: 'approve' }, { token: alice });
      assert.equal(res.statusCode, 200, res.body);
      const done = await waitForStatus(h, wf.id, res.json().id, ['succeeded', 'failed']);
      assert.equal(done.status, 'succeeded');
      const outputs = nodeOf(done, 'gate').outputs;
      assert.equal(outputs.actor, 'alice');
      assert.equal(outputs.override, false);
    });

    it('an admin overrides with override: true, and the outputs say who', async () => {
      const wf = await createWorkflow(h, gated('overridden', ['alice']));
      const url = await waitingRun(wf.id);
      const res = await h.call('POST', `${url}/resume`, {
        decision: 'reject',
        comment: 'alice is away',
        override: true,
      });
      assert.equal(res.statusCode, 200, res.body);
      const done = await waitForStatus(h, wf.id, res.json().id, ['failed', 'succeeded']);
      const gate = nodeOf(done, 'gate');
      assert.equal(gate.outputs.decision, 'reject');
      assert.equal(gate.outputs.actor, 'admin');
      assert.equal(gate.outputs.override, true);
      assert.match(gate.error.message, /Rejected by admin: alice is away/);
    });

    it('without approvers any token with workflows.run decides', async () => {
      const wf = await createWorkflow(h, gated('open'));
      const url = await waitingRun(wf.id);
      const res = await h.call('POST', `${url}/resume`, { decision: 'approve' }, { token: bob });
      assert.equal(res.statusCode, 200, res.body);
      const done = await waitForStatus(h, wf.id, res.json().id, ['succeeded', 'failed']);
      assert.equal(nodeOf(done, 'gate').outputs.actor, 'bob');
      assert.equal(nodeOf(done, 'gate').outputs.override, false);
    });
  });
}

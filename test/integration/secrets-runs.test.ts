/**
 * Secrets used in runs (issue 14) on both dialects: a command gets them through `env:` only;
 * what it prints of them (as is, split across writes, base64, URL-encoded, JSON-escaped, a
 * multi-line value line by line) and writes to `$SWITCHYARD_OUTPUT` is stored masked — read
 * through the API and straight from the tables; the detail names the secrets used. A workflow's
 * own secret wins over a global one and is invisible to other workflows, whose node fails with
 * ERR_SECRET_NOT_FOUND naming it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  createWorkflow,
  executionUrl,
  listDlq,
  nodeOf,
  runAndWait,
} from '../helpers/executions.ts';
import { type Harness, adminToken, startHarness } from '../helpers/harness.ts';
import { startLocalServer } from '../helpers/exec-context.ts';
import { readToClose } from '../helpers/sse.ts';
import { secretForms } from '../../src/secrets/masker.ts';

/** Characters that JSON, URL and base64 encodings all change. */
const single = 'tok/3n+"quoted" & more?=';
const multi = '-----BEGIN KEY-----\nMIIBfakeKeyLine2xyz\nthird line with ü\n-----END KEY-----';
const node = JSON.stringify(process.execPath);

/** Every encoded form the test makes the command print, per value (and line of `multi`). */
function forbidden(): string[] {
  const out = new Set<string>();
  for (const value of [single, multi, ...multi.split('\n')]) {
    const bytes = Buffer.from(value);
    out.add(value);
    out.add(JSON.stringify(value).slice(1, -1));
    out.add(encodeURIComponent(value));
    out.add(bytes.toString('base64'));
  }
  // `x` + value in base64: the value sits one byte into the encoding.
  out.add(Buffer.from(`x${single}`).toString('base64').slice(4, -4));
  return [...out];
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

for (const dialect of dialectNames) {
  describe(`secrets in runs (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let base: string;
    /** A loopback API that answers with the authorization header it received. */
    let api: Awaited<ReturnType<typeof startLocalServer>>;
    const received: string[] = [];
    before(async () => {
      api = await startLocalServer((req, res) => {
        received.push(req.headers.authorization ?? '');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ youSent: req.headers.authorization }));
      });
      h = await startHarness(dialect, {
        config: { egressAllow: [`127.0.0.1:${new URL(api.url).port}`] },
      });
      base = await h.yard.app.listen({ port: 0, host: '127.0.0.1' });
    });
    after(async () => {
      await h?.close();
      await api?.close();
    });

    async function setSecret(name: string, value: string, workflowId?: string) {
      const url =
        workflowId === undefined
          ? `/api/v1/secrets/${name}`
          : `/api/v1/workflows/${workflowId}/secrets/${name}`;
      const res = await h.call('PUT', url, { value });
      assert.ok(res.statusCode === 201 || res.statusCode === 200, res.body);
    }

    /** Every row of the tables that hold what an execution stored (each harness has a fresh database). */
    async function storedRows(): Promise<string> {
      const db = h.yard.database.db;
      const tables = [
        'node_logs',
        'execution_events',
        'executions',
        'dlq',
        'node_runs',
        'platform_events',
        'tasks',
        'artifacts',
      ] as const;
      const rows: unknown[] = [];
      for (const t of tables) rows.push(await db.selectFrom(t).selectAll().execute());
      return JSON.stringify(rows);
    }

    function assertNoValue(where: string, text: string) {
      for (const form of forbidden())
        assert.ok(!text.includes(form), `${where} holds the secret form ${JSON.stringify(form)}`);
    }

    it('masks every form of the values a failing command printed and wrote, everywhere', async () => {
      await setSecret('SINGLE', single);
      await setSecret('MULTI', multi);
      const run = [
        'echo "plain: $TOKEN"',
        // One value in two writes of the process.
        'printf "split: %s" "$(printf %s "$TOKEN" | cut -c1-6)"',
        'printf "%s\\n" "$(printf %s "$TOKEN" | cut -c7-)"',
        'echo "b64: $(printf %s "$TOKEN" | base64 | tr -d "\\n")"',
        'echo "b64 shifted: $(printf x%s "$TOKEN" | base64 | tr -d "\\n")"',
        `echo "url: $(${node} -e 'process.stdout.write(encodeURIComponent(process.env.TOKEN))')"`,
        `echo "json: $(${node} -e 'process.stdout.write(JSON.stringify(process.env.TOKEN))')"`,
        'printf "%s\\n" "$KEY"',
        'echo "key b64: $(printf %s "$KEY" | base64 | tr -d "\\n")"',
        'echo "token=$TOKEN" >> "$SWITCHYARD_OUTPUT"',
        'echo "length=${#TOKEN}" >> "$SWITCHYARD_OUTPUT"',
        'echo "error: $TOKEN" >&2',
        'exit 3',
      ].join('\n');
      const wf = await createWorkflow(h, {
        name: `leaky-${dialect}`,
        graph: {
          nodes: [
            {
              id: 'leak',
              type: 'command',
              run,
              env: { TOKEN: '${{ secrets.SINGLE }}', KEY: "${{ secrets['MULTI'] }}" },
            },
          ],
        },
      });
      const detail = await runAndWait(h, wf.id, ['failed']);
      const leak = nodeOf(detail, 'leak');
      // The command had the value: its length came through, the value itself did not.
      assert.equal(leak.outputs?.length, String(single.length));
      assert.equal(leak.outputs?.token, '***');
      assert.equal(leak.error?.code, 'ERR_NODE_EXIT');
      assert.match(leak.error?.message ?? '', /exited with code 3: error: \*\*\*$/);
      assert.deepEqual(detail.secrets, ['MULTI', 'SINGLE']);
      assertNoValue('the detail', JSON.stringify(detail));

      const logs = await h.call('GET', `${executionUrl(wf.id, detail.id)}/logs?limit=5000`);
      assert.equal(logs.statusCode, 200, logs.body);
      const texts = logs.json<{ items: { text: string }[] }>().items.map((l) => l.text);
      for (const line of [
        'plain: ***',
        'split: ***',
        'b64: ***',
        'url: ***',
        'json: "***"',
        '***',
        'error: ***',
      ])
        assert.ok(
          texts.includes(line),
          `no log line ${JSON.stringify(line)} in ${texts.join('\n')}`,
        );
      // The value one byte into a base64 text: only what depends on the byte before it shows.
      assert.ok(
        texts.some((t) => /^b64 shifted: [A-Za-z0-9+/]{0,4}\*\*\*[A-Za-z0-9+/=]{0,4}$/.test(t)),
        texts.join('\n'),
      );
      assertNoValue('the logs', logs.body);

      const stream = await readToClose(`${base}${executionUrl(wf.id, detail.id)}/stream`, {
        authorization: `Bearer ${adminToken}`,
      });
      assert.equal(stream.status, 200);
      assert.ok(
        stream.frames.some((f) => f.type === 'node.status' && f.data.includes('error: ***')),
        stream.text,
      );
      assertNoValue('the event stream', stream.text);

      const [entry] = await listDlq(h, `workflowId=${wf.id}`);
      assert.ok(entry, 'a DLQ entry');
      const dlq = await h.call('GET', `/api/v1/workflows/dlq/${entry.id}`);
      assert.equal(dlq.statusCode, 200, dlq.body);
      assert.match(dlq.body, /error: \*\*\*/);
      assertNoValue('the DLQ entry', dlq.body);

      const exported = await h.call('GET', `/api/v1/workflows/${wf.id}/export`);
      assert.equal(exported.statusCode, 200, exported.body);
      assert.match(exported.body, /secrets\.SINGLE/);
      assertNoValue('the export', exported.body);

      const stored = await storedRows();
      assert.match(stored, /plain: \*\*\*/);
      assertNoValue('the database', stored);
    });

    it('masks a value that straddles the cut of an over-long line', async () => {
      await setSecret('SINGLE', single);
      const before = 16 * 1024 - 5;
      const wf = await createWorkflow(h, {
        name: `long-line-${dialect}`,
        graph: {
          nodes: [
            {
              id: 'long',
              type: 'command',
              run: `head -c ${before} /dev/zero | tr '\\0' a; printf '%s' "$TOKEN"; head -c 50 /dev/zero | tr '\\0' b; echo`,
              env: { TOKEN: '${{ secrets.SINGLE }}' },
            },
          ],
        },
      });
      const detail = await runAndWait(h, wf.id, ['succeeded']);
      const logs = await h.call('GET', `${executionUrl(wf.id, detail.id)}/logs?limit=5000`);
      const [line] = logs.json<{ items: { text: string }[] }>().items.map((l) => l.text);
      assert.ok(line?.startsWith(`${'a'.repeat(before)}***`), line?.slice(before - 10));
      assert.ok(!logs.body.includes(single.slice(0, 4)), line?.slice(before - 10));
    });

    it('masks a value a later node prints, and keeps no artifact whose path holds one', async () => {
      await setSecret('FILE_PART', 'part-of-a-file-name');
      await setSecret('EARLY', 'read by the first node only');
      const wf = await createWorkflow(h, {
        name: `later-${dialect}`,
        graph: {
          nodes: [
            {
              id: 'write',
              type: 'command',
              run: 'printf "%s\\n" "$E" > kept.txt && touch "out-$F.txt" plain.txt',
              env: { E: '${{ secrets.EARLY }}', F: '${{ secrets.FILE_PART }}' },
              artifacts: ['out-*.txt', 'plain.txt'],
            },
            // Names no secret: the execution's record of the secrets used masks them.
            { id: 'later', type: 'command', run: 'cat kept.txt', needs: ['write'] },
          ],
        },
      });
      const detail = await runAndWait(h, wf.id, ['succeeded']);
      assert.deepEqual(detail.secrets, ['EARLY', 'FILE_PART']);
      const logs = await h.call('GET', `${executionUrl(wf.id, detail.id)}/logs?limit=5000`);
      const lines = logs.json<{ items: { nodeId: string; text: string }[] }>().items;
      assert.ok(
        lines.some((l) => l.nodeId === 'later' && l.text === '***'),
        JSON.stringify(lines),
      );
      assert.ok(
        lines.some((l) => l.text.startsWith('artifact out-***.txt not kept')),
        JSON.stringify(lines),
      );
      const listed = await h.call('GET', `${executionUrl(wf.id, detail.id)}/artifacts`);
      assert.equal(listed.statusCode, 200, listed.body);
      assert.match(listed.body, /plain\.txt/);
      for (const body of [logs.body, listed.body, await storedRows()]) {
        assert.ok(!body.includes('part-of-a-file-name'), body);
        assert.ok(!body.includes('read by the first node only'), body);
      }
    });

    it('masks a value a node prints while the node that uses it still runs', async () => {
      await setSecret('BESIDE', 'value of a node running beside');
      const wf = await createWorkflow(h, {
        name: `beside-${dialect}`,
        graph: {
          nodes: [
            {
              id: 'use',
              type: 'command',
              // Stays running until the other node printed the value.
              run: 'printf "%s\\n" "$S" > shared.txt; while [ ! -f printed ]; do sleep 0.02; done',
              env: { S: '${{ secrets.BESIDE }}' },
              timeout: '30s',
            },
            {
              id: 'peek',
              type: 'command',
              run: 'while [ ! -s shared.txt ]; do sleep 0.02; done; cat shared.txt; touch printed',
              timeout: '30s',
            },
          ],
        },
      });
      const detail = await runAndWait(h, wf.id, ['succeeded']);
      const logs = await h.call('GET', `${executionUrl(wf.id, detail.id)}/logs?limit=5000`);
      const lines = logs.json<{ items: { nodeId: string; text: string }[] }>().items;
      assert.ok(
        lines.some((l) => l.nodeId === 'peek' && l.text === '***'),
        JSON.stringify(lines),
      );
      assert.ok(!logs.body.includes('value of a node running beside'), logs.body);
    });

    it('an http node sends a secret in a header; its echo in the outputs is masked', async () => {
      await setSecret('API_TOKEN', 'bearer-secret-0123456789');
      const wf = await createWorkflow(h, {
        name: `http-${dialect}`,
        graph: {
          nodes: [
            {
              id: 'call',
              type: 'http',
              url: `${api.url}/echo`,
              headers: { authorization: 'Bearer ${{ secrets.API_TOKEN }}' },
            },
          ],
        },
      });
      const detail = await runAndWait(h, wf.id, ['succeeded']);
      assert.ok(received.includes('Bearer bearer-secret-0123456789'), received.join(', '));
      assert.deepEqual(nodeOf(detail, 'call').outputs?.body, { youSent: 'Bearer ***' });
      assert.ok(!(await storedRows()).includes('bearer-secret-0123456789'));
    });

    it("a workflow's own secret wins over a global one and no other workflow sees it", async () => {
      const own = await createWorkflow(h, {
        name: `own-${dialect}`,
        graph: {
          nodes: [
            {
              id: 'use',
              type: 'command',
              run: 'echo "digest=$(printf %s "$S" | sha256sum | cut -c1-64)" >> "$SWITCHYARD_OUTPUT"',
              env: { S: '${{ secrets.SHARED }}' },
            },
          ],
        },
      });
      await setSecret('SHARED', 'the global value');
      await setSecret('SHARED', 'the workflow value', own.id);
      await setSecret('ONLY_OWN', 'private to one workflow', own.id);
      const ran = await runAndWait(h, own.id, ['succeeded']);
      assert.equal(nodeOf(ran, 'use').outputs?.digest, sha256('the workflow value'));

      const other = await createWorkflow(h, {
        name: `other-${dialect}`,
        graph: {
          nodes: [
            {
              id: 'peek',
              type: 'command',
              run: 'echo "$S $P"',
              env: { S: '${{ secrets.SHARED }}', P: '${{ secrets.ONLY_OWN }}' },
            },
          ],
        },
      });
      const failed = await runAndWait(h, other.id, ['failed']);
      const peek = nodeOf(failed, 'peek');
      assert.equal(peek.error?.code, 'ERR_SECRET_NOT_FOUND');
      assert.match(peek.error?.message ?? '', /\bONLY_OWN\b/);
      assert.doesNotMatch(peek.error?.message ?? '', /\bSHARED\b/);
      assert.equal(peek.attempt, 1);
    });

    it('refuses a secret on a command line when the workflow is saved', async () => {
      const res = await h.call('POST', '/api/v1/workflows', {
        name: `cmdline-${dialect}`,
        graph: { nodes: [{ id: 'a', type: 'command', run: 'deploy ${{ secrets.SINGLE }}' }] },
      });
      assert.equal(res.statusCode, 422, res.body);
      assert.match(res.body, /reads secrets only in env/);
    });
  });
}

describe('masked forms', () => {
  it('leaves short lines of a multi-line value alone', () => {
    const forms = secretForms('line one\n}\n\nend');
    assert.ok(forms.includes('line one'));
    assert.ok(!forms.includes('}'));
    assert.ok(!forms.includes(''));
    assert.ok(!forms.includes('end'));
  });
});

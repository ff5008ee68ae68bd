/**
 * The web UI's sign-in on both dialects: a token exchanged for an HttpOnly, SameSite=Strict
 * session cookie that works on the API and its SSE streams with the token's permissions, CSRF
 * on cookie-authenticated writes, sign-out, and sessions that end with their token or their TTL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, freshPlace, skipFor } from '../helpers/dialects.ts';
import {
  createWorkflow,
  executionUrl,
  runWorkflow,
  tokenWith,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, adminToken, composeOn, startHarness } from '../helpers/harness.ts';

const cookiePattern =
  /^switchyard_session=([A-Za-z0-9_-]{43}); HttpOnly; SameSite=Strict; Path=\/api\/v1; Max-Age=(\d+)$/;

interface Signed {
  cookie: string;
  csrfToken: string;
  maxAge: number;
  body: {
    csrfToken: string;
    expiresAt: string;
    me: { tokenId: string; name: string; permissions: string[]; via: string; expiresAt: string };
  };
}

for (const dialect of dialectNames) {
  describe(`sessions (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let base: string;
    // The server's clock runs this far ahead of the real one (expiry without sleeping).
    let offsetMs = 0;
    before(async () => {
      h = await startHarness(dialect, {
        clock: { now: () => new Date(Date.now() + offsetMs) },
        config: { sessionTtlHours: 12 },
      });
      base = await h.yard.app.listen({ port: 0, host: '127.0.0.1' });
    });
    after(async () => {
      await h?.close();
    });

    async function signIn(token: string): Promise<Signed> {
      const res = await h.call('POST', '/api/v1/session', { token }, { token: null });
      assert.equal(res.statusCode, 201, res.body);
      const setCookie = res.headers['set-cookie'];
      assert.equal(typeof setCookie, 'string', JSON.stringify(setCookie));
      const m = cookiePattern.exec(setCookie as string);
      assert.ok(m, `Set-Cookie: ${String(setCookie)}`);
      const body = res.json<Signed['body']>();
      return { cookie: m[1]!, csrfToken: body.csrfToken, maxAge: Number(m[2]), body };
    }

    const byCookie = (
      method: string,
      url: string,
      cookie: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ) =>
      h.call(method, url, body, {
        token: null,
        headers: { cookie: `theme=dark; switchyard_session=${cookie}`, ...headers },
      });

    it('signs in: the cookie is HttpOnly, SameSite=Strict, scoped to /api/v1, for sessionTtlHours', async () => {
      const s = await signIn(adminToken);
      assert.equal(s.maxAge, 12 * 3600);
      assert.equal(s.body.me.name, 'admin');
      assert.equal(s.body.me.via, 'session');
      assert.ok(s.body.me.permissions.includes('tokens.admin'));
      assert.match(s.csrfToken, /^[A-Za-z0-9_-]{43}$/);
      const left = Date.parse(s.body.expiresAt) - Date.now();
      assert.ok(Math.abs(left - 12 * 3_600_000) < 60_000, s.body.expiresAt);
    });

    it('GET /api/v1/me answers by cookie and by bearer', async () => {
      const s = await signIn(adminToken);
      const me = await byCookie('GET', '/api/v1/me', s.cookie);
      assert.equal(me.statusCode, 200, me.body);
      const viaCookie = me.json<Record<string, unknown>>();
      assert.equal(viaCookie.via, 'session');
      assert.equal(viaCookie.csrfToken, s.csrfToken);
      assert.equal(viaCookie.expiresAt, s.body.expiresAt);
      const bearer = await h.call('GET', '/api/v1/me');
      assert.equal(bearer.statusCode, 200, bearer.body);
      const viaBearer = bearer.json<Record<string, unknown>>();
      assert.equal(viaBearer.via, 'bearer');
      assert.equal(viaBearer.name, 'admin');
      assert.equal(viaBearer.tokenId, viaCookie.tokenId);
      assert.equal(viaBearer.expiresAt, null);
      assert.equal(viaBearer.csrfToken, undefined);
      const none = await h.call('GET', '/api/v1/me', undefined, { token: null });
      assert.equal(none.statusCode, 401);
      assert.equal(none.json().code, 'ERR_AUTH_MISSING');
    });

    it('works on API reads and the SSE stream with only the cookie; writes need X-CSRF-Token', async () => {
      const s = await signIn(adminToken);
      const list = await byCookie('GET', '/api/v1/workflows', s.cookie);
      assert.equal(list.statusCode, 200, list.body);
      const wf = await createWorkflow(h, {
        name: `gate-${dialect}`,
        graph: { nodes: [{ id: 'gate', type: 'approval', message: 'ok?' }] },
      });
      const ex = await runWorkflow(h, wf.id);
      await waitForStatus(h, wf.id, ex.id, ['waiting']);

      const controller = new AbortController();
      const res = await fetch(`${base}${executionUrl(wf.id, ex.id)}/stream`, {
        headers: { cookie: `switchyard_session=${s.cookie}` },
        signal: controller.signal,
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const { value } = await res.body!.getReader().read();
      assert.match(new TextDecoder().decode(value), /^retry: 1000/);
      controller.abort();

      const cancelUrl = `${executionUrl(wf.id, ex.id)}/cancel`;
      const noCsrf = await byCookie('POST', cancelUrl, s.cookie, {});
      assert.equal(noCsrf.statusCode, 403, noCsrf.body);
      assert.equal(noCsrf.json().code, 'ERR_AUTH_CSRF');
      const wrong = await byCookie('POST', cancelUrl, s.cookie, {}, { 'x-csrf-token': 'nope' });
      assert.equal(wrong.statusCode, 403, wrong.body);
      assert.equal(wrong.json().code, 'ERR_AUTH_CSRF');
      const detail = await h.call('GET', executionUrl(wf.id, ex.id));
      assert.equal(detail.json().status, 'waiting');
      const ok = await byCookie('POST', cancelUrl, s.cookie, {}, { 'x-csrf-token': s.csrfToken });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.equal(ok.json().status, 'cancelled');
      // A bearer write needs no CSRF header.
      const bearerWrite = await h.call('POST', '/api/v1/workflows', { name: `bearer-${dialect}` });
      assert.equal(bearerWrite.statusCode, 201, bearerWrite.body);
    });

    it("a read-only token's session is refused writes as its bearer is; the bearer wins over a cookie", async () => {
      const reader = await tokenWith(h, `reader-${dialect}`, ['workflows.read']);
      const s = await signIn(reader);
      assert.deepEqual(s.body.me.permissions, ['workflows.read']);
      const body = { name: `nope-${dialect}` };
      const headers = { 'x-csrf-token': s.csrfToken };
      const bySession = await byCookie('POST', '/api/v1/workflows', s.cookie, body, headers);
      assert.equal(bySession.statusCode, 403, bySession.body);
      assert.equal(bySession.json().code, 'ERR_AUTH_FORBIDDEN');
      const byBearer = await h.call('POST', '/api/v1/workflows', body, { token: reader });
      assert.equal(byBearer.statusCode, 403, byBearer.body);
      assert.equal(byBearer.json().code, 'ERR_AUTH_FORBIDDEN');
      const read = await byCookie('GET', '/api/v1/workflows', s.cookie);
      assert.equal(read.statusCode, 200, read.body);

      // An admin's cookie does not lift a read-only bearer, and needs no CSRF header then.
      const admin = await signIn(adminToken);
      const both = await h.call('POST', '/api/v1/workflows', body, {
        token: reader,
        headers: { cookie: `switchyard_session=${admin.cookie}` },
      });
      assert.equal(both.statusCode, 403, both.body);
      assert.equal(both.json().code, 'ERR_AUTH_FORBIDDEN');
      const adminBearer = await h.call('POST', '/api/v1/workflows', body, {
        headers: { cookie: `switchyard_session=${s.cookie}` },
      });
      assert.equal(adminBearer.statusCode, 201, adminBearer.body);
    });

    it('signs out: the cookie is cleared and no longer works; signing out again is 204', async () => {
      const s = await signIn(adminToken);
      const noCsrf = await byCookie('DELETE', '/api/v1/session', s.cookie);
      assert.equal(noCsrf.statusCode, 403, noCsrf.body);
      assert.equal(noCsrf.json().code, 'ERR_AUTH_CSRF');
      const out = await byCookie('DELETE', '/api/v1/session', s.cookie, undefined, {
        'x-csrf-token': s.csrfToken,
      });
      assert.equal(out.statusCode, 204, out.body);
      assert.equal(
        out.headers['set-cookie'],
        'switchyard_session=; HttpOnly; SameSite=Strict; Path=/api/v1; Max-Age=0',
      );
      const me = await byCookie('GET', '/api/v1/me', s.cookie);
      assert.equal(me.statusCode, 401, me.body);
      assert.equal(me.json().code, 'ERR_AUTH_INVALID');
      const again = await byCookie('DELETE', '/api/v1/session', s.cookie);
      assert.equal(again.statusCode, 204, again.body);
      const noCookie = await h.call('DELETE', '/api/v1/session', undefined, { token: null });
      assert.equal(noCookie.statusCode, 204, noCookie.body);
    });

    it("ends with its token: revoked, or at the token's expiry", async () => {
      const secret = await tokenWith(h, `revoked-${dialect}`, ['workflows.read']);
      const s = await signIn(secret);
      assert.equal((await byCookie('GET', '/api/v1/me', s.cookie)).statusCode, 200);
      const revoke = await h.call('DELETE', `/api/v1/tokens/${s.body.me.tokenId}`);
      assert.equal(revoke.statusCode, 204, revoke.body);
      const afterRevoke = await byCookie('GET', '/api/v1/workflows', s.cookie);
      assert.equal(afterRevoke.statusCode, 401, afterRevoke.body);
      assert.equal(afterRevoke.json().code, 'ERR_AUTH_INVALID');

      const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
      const created = await h.call('POST', '/api/v1/tokens', {
        name: `short-${dialect}`,
        permissions: ['workflows.read'],
        expiresAt,
      });
      assert.equal(created.statusCode, 201, created.body);
      const short = await signIn(created.json().token as string);
      assert.equal(short.body.expiresAt, expiresAt);
      assert.ok(short.maxAge <= 3600 && short.maxAge > 3500, String(short.maxAge));
    });

    it('expires after sessionTtlHours', async () => {
      const s = await signIn(adminToken);
      offsetMs = 12 * 3_600_000 - 60_000;
      try {
        assert.equal((await byCookie('GET', '/api/v1/me', s.cookie)).statusCode, 200);
        offsetMs = 12 * 3_600_000 + 1000;
        const late = await byCookie('GET', '/api/v1/me', s.cookie);
        assert.equal(late.statusCode, 401, late.body);
        assert.equal(late.json().code, 'ERR_AUTH_INVALID');
        assert.match(late.json().error as string, /expired/);
      } finally {
        offsetMs = 0;
      }
    });

    it('survives a restart: another server of the same database accepts the session', async () => {
      const place = freshPlace(dialect);
      const start = () =>
        composeOn(place, { config: { workerConcurrency: 0 }, startWorker: false });
      try {
        const first = await start();
        const signIn = await first.app.inject({
          method: 'POST',
          url: '/api/v1/session',
          payload: { token: adminToken },
        });
        assert.equal(signIn.statusCode, 201, signIn.body);
        const cookie = cookiePattern.exec(String(signIn.headers['set-cookie']))![1]!;
        await first.close();
        const second = await start();
        try {
          const me = await second.app.inject({
            method: 'GET',
            url: '/api/v1/me',
            headers: { cookie: `switchyard_session=${cookie}` },
          });
          assert.equal(me.statusCode, 200, me.body);
          assert.equal(me.json().via, 'session');
        } finally {
          await second.close();
        }
      } finally {
        await place.cleanup();
      }
    });

    it('refuses bad sign-ins and bad cookies with error bodies, never 500', async () => {
      const cases: [unknown, number, string][] = [
        [{ token: `sy_${'b'.repeat(40)}` }, 401, 'ERR_AUTH_INVALID'],
        [{ token: `sye_${'b'.repeat(40)}` }, 401, 'ERR_AUTH_INVALID'],
        [{ token: '' }, 400, 'ERR_VALIDATION'],
        [{}, 400, 'ERR_VALIDATION'],
        [{ token: adminToken, extra: 1 }, 400, 'ERR_VALIDATION'],
        [{ token: 42 }, 400, 'ERR_VALIDATION'],
        ['not json', 400, 'ERR_JSON_MALFORMED'],
      ];
      for (const [body, status, code] of cases) {
        const res = await h.call('POST', '/api/v1/session', body, {
          token: null,
          headers: { 'content-type': 'application/json' },
        });
        assert.equal(res.statusCode, status, `${JSON.stringify(body)}: ${res.body}`);
        assert.equal(res.json().code, code, res.body);
        assert.equal(res.headers['set-cookie'], undefined);
      }
      const empty = await h.call('POST', '/api/v1/session', undefined, { token: null });
      assert.equal(empty.statusCode, 400, empty.body);
      for (const cookie of ['garbage', 'a'.repeat(43), '', '"quoted"']) {
        const res = await byCookie('GET', '/api/v1/workflows', cookie);
        assert.equal(res.statusCode, 401, `${cookie}: ${res.body}`);
        assert.equal(res.json().code, 'ERR_AUTH_INVALID');
      }
      // The LLM gateway takes execution tokens only: a session cookie is no credential there.
      const s = await signIn(adminToken);
      const gateway = await byCookie('POST', '/api/v1/llm/v1/chat/completions', s.cookie, {
        model: 'x',
        messages: [],
      });
      assert.equal(gateway.statusCode, 401, gateway.body);
      assert.equal(gateway.json().code, 'ERR_AUTH_MISSING');
    });
  });
}

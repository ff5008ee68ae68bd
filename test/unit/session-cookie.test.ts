/** The session cookie's attributes and parsing (issue 12). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { sessionCookie, sessionCookieOf } from '../../src/api/session-cookie.ts';

const request = (fields: { protocol?: string; cookie?: string }) =>
  ({
    protocol: fields.protocol ?? 'http',
    headers: fields.cookie === undefined ? {} : { cookie: fields.cookie },
  }) as unknown as FastifyRequest;

describe('session cookie', () => {
  it('is Secure only over HTTPS', () => {
    assert.equal(
      sessionCookie(request({ protocol: 'https' }), 'v', 60),
      'switchyard_session=v; HttpOnly; SameSite=Strict; Path=/api/v1; Max-Age=60; Secure',
    );
    assert.equal(
      sessionCookie(request({}), 'v', 0),
      'switchyard_session=v; HttpOnly; SameSite=Strict; Path=/api/v1; Max-Age=0',
    );
  });

  it('is found among other cookies, and only by its own name', () => {
    assert.equal(sessionCookieOf(request({ cookie: 'a=1; switchyard_session=xyz; b=2' })), 'xyz');
    assert.equal(sessionCookieOf(request({ cookie: 'switchyard_session="q"' })), 'q');
    assert.equal(sessionCookieOf(request({ cookie: 'my_switchyard_session=xyz' })), undefined);
    assert.equal(sessionCookieOf(request({ cookie: 'a=1' })), undefined);
    assert.equal(sessionCookieOf(request({})), undefined);
  });
});

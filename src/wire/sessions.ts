/** Browser sessions and "who am I" on the wire (issue 12, the web UI's sign-in). */
import { type Static, Type } from 'typebox';
import { Nullable, literalUnion } from './common.ts';
import { PermissionSchema } from './tokens.ts';

/** `GET /api/v1/me`: the caller's token and what it may do. */
export const MeSchema = Type.Object({
  tokenId: Type.String(),
  name: Type.String({ description: 'The token name (approvers name tokens by it).' }),
  permissions: Type.Array(PermissionSchema),
  expiresAt: Nullable(
    Type.String({
      format: 'date-time',
      description:
        'When this credential stops working: the session (bounded by its token) or the bearer token; null: never.',
    }),
  ),
  via: literalUnion(['bearer', 'session']),
  csrfToken: Type.Optional(
    Type.String({
      description:
        'Only with a session: the X-CSRF-Token its POST, PUT, PATCH and DELETE requests carry (read again after a page reload).',
    }),
  ),
});
export type Me = Static<typeof MeSchema>;

export const SessionBodySchema = Type.Object(
  {
    token: Type.String({
      minLength: 1,
      maxLength: 512,
      description: 'An API token (sy_…); execution tokens cannot start sessions.',
    }),
  },
  { additionalProperties: false },
);

/** The sign-in answer; the session itself travels in the HttpOnly cookie. */
export const SessionSchema = Type.Object({
  csrfToken: Type.String({
    description: 'Send it as X-CSRF-Token on every POST, PUT, PATCH and DELETE of this session.',
  }),
  expiresAt: Type.String({ format: 'date-time' }),
  me: MeSchema,
});
export type SessionView = Static<typeof SessionSchema>;

/** API tokens on the wire (DESIGN §8). */
import { type Static, Type } from 'typebox';
import { allPermissions } from '../types.ts';
import { literalUnion } from './common.ts';

export const PermissionSchema = literalUnion(allPermissions);

export const TokenSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  permissions: Type.Array(PermissionSchema),
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type TokenView = Static<typeof TokenSchema>;

/** The create answer: the token with its secret, shown only this once. */
export const CreatedTokenSchema = Type.Object({
  ...TokenSchema.properties,
  token: Type.String({ description: 'The secret (sy_ + 40 hex).' }),
});
export type CreatedToken = Static<typeof CreatedTokenSchema>;

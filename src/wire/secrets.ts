/** Secrets as the API shows them: who set them and when, never their values. */
import { type Static, Type } from 'typebox';

/** Largest secret value, in UTF-8 bytes. */
export const maxSecretValueBytes = 64 * 1024;

export const SecretNameSchema = Type.String({
  pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$',
  description: 'A letter or underscore, then letters, digits or underscores (at most 128).',
});

export const SecretValueBodySchema = Type.Object(
  {
    value: Type.String({
      description: `The value (write-only: no route returns it); at most ${maxSecretValueBytes} bytes of UTF-8.`,
    }),
  },
  { additionalProperties: false },
);

export const SecretSchema = Type.Object({
  name: Type.String(),
  scope: Type.String({ description: "'global', or the id of the workflow it belongs to." }),
  createdBy: Type.String(),
  createdAt: Type.String(),
  updatedBy: Type.String(),
  updatedAt: Type.String(),
});

export const SecretListItemSchema = Type.Object({
  ...SecretSchema.properties,
  usedBy: Type.Array(Type.String(), {
    description:
      "Workflows whose newest version names it (`secrets.NAME` or `secrets['NAME']`), except those with a secret of their own by that name.",
  }),
});

export type SecretView = Static<typeof SecretSchema>;
export type SecretListItem = Static<typeof SecretListItemSchema>;

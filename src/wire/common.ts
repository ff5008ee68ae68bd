/**
 * Building blocks of the wire schemas. `src/wire/` holds the request and response schemas the
 * routes validate with (and the OpenAPI document shows); each shape's TypeScript type is
 * `Static<>` of its schema, used alike by the services that build it and the CLI that reads it.
 * Plain TypeBox: no Fastify, no store, so the CLI imports the types freely.
 */
import { type TSchema, Type } from 'typebox';

/** A string enum (`{enum: [...]}`) from a list of literals. */
export const literalUnion = <T extends string[]>(
  values: readonly [...T],
  opts: { description?: string } = {},
) => Type.Enum<T>(values, opts);

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/**
 * Any JSON object (`{type: object, additionalProperties: true}`), typed as a record rather than
 * TypeBox's bare `object`.
 */
export const AnyObject = (opts: { description?: string } = {}) =>
  Type.Unsafe<Record<string, unknown>>(Type.Object({}, { additionalProperties: true, ...opts }));

/** One problem or warning, at a path of the input (`graph.nodes[0].model`). */
const DetailSchema = Type.Object({ path: Type.String(), message: Type.String() });

/** What a save allows but says (an unpriced model): `warnings[]` of save and validate answers. */
export const WarningsSchema = Type.Array(DetailSchema, {
  description:
    'What the save allowed but is worth knowing, with its path: e.g. a model without a price in modelPrices (its cost is marked unpriced). Present on saves and validation, absent on reads.',
});

export const ErrorBodySchema = Type.Object(
  {
    error: Type.String({ description: 'Human-readable message.' }),
    code: Type.String({ description: 'Stable code from the error catalog (docs/api.md).' }),
    details: Type.Array(DetailSchema),
    context: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { $id: 'ErrorBody' },
);

export const NameSchema = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[^\\u0000-\\u001f\\u007f]+$',
});
export const DescriptionSchema = Type.String({ maxLength: 4096 });

/** The query of a cursor-paginated list (`?limit=&cursor=`), for routes to spread in. */
export const pageQueryFields = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
};

export const pageOf = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });

/** `Static<>` of `pageOf(ItemSchema)`, over the item's type. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

import { Type } from 'typebox';
import { NonEmptyString, namePattern, nodeSchema } from '../definition/model.ts';
import type { NodeTypeSpec } from './node-type.ts';

/** A shell command run in the execution's runtime (or in a sidecar `image`). */
export const CommandNodeSchema = nodeSchema('command', {
  run: NonEmptyString({ description: 'the script, run by `shell`' }),
  shell: Type.Optional(NonEmptyString({ description: 'default: sh -e' })),
  workingDir: Type.Optional(NonEmptyString({ description: 'relative to /workspace' })),
  image: Type.Optional(
    NonEmptyString({ description: 'run in a sidecar container from this image' }),
  ),
  outputs: Type.Optional(Type.Array(Type.String({ pattern: namePattern }))),
});

export const commandNode: NodeTypeSpec = {
  type: 'command',
  schema: CommandNodeSchema,
  description:
    'Runs a shell command; `key=value` lines written to $SWITCHYARD_OUTPUT become outputs.',
};

/** Artifacts on the wire (DESIGN §6). */
import { type Static, Type } from 'typebox';
import { Nullable } from './common.ts';

export const ArtifactSchema = Type.Object({
  id: Type.String(),
  path: Type.String({ description: "Relative to the workspace, '/'-separated." }),
  size: Type.Integer({ description: 'Bytes.' }),
  sha256: Type.String({ description: 'Hex SHA-256 of the content; the download ETag.' }),
  contentType: Type.String(),
  nodeId: Nullable(Type.String({ description: 'Null when collected at environment release.' })),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  expired: Type.Boolean({ description: 'Retention ended: downloads answer 410.' }),
  url: Type.String({ description: 'Download URL.' }),
});
/** An artifact as the API shows it: what events announce, plus its state and download URL. */
export type ArtifactView = Static<typeof ArtifactSchema>;

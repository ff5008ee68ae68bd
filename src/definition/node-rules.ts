/**
 * What validation and the YAML mapping need to know of a node type. The node types themselves
 * live in `src/nodes/` (their registry is the only list); definition/ is handed them as a
 * `NodeCatalog` and imports none of them, so no import cycle runs through the node modules.
 */
import type { TSchema } from 'typebox';
import type { ErrorDetail } from '../errors.ts';
import type { GraphNode } from './model.ts';

export interface NodeCheckContext {
  /** Path of the node in the input ("graph.nodes[2]" for JSON, "nodes[2]" for YAML). */
  path: string;
  /** Path of a field of this node in the input's key style: `field('onReject')`, `field('cases', 0, 'to')`. */
  field(...segments: (string | number)[]): string;
  /** A field name in the input's key style (`onReject` or `on_reject`), for messages. */
  key(name: string): string;
  /** Ids of the graph's top-level nodes (the ones edges connect). */
  nodeIds: ReadonlySet<string>;
  /** Targets of the edges leaving this node; empty for inline nodes. */
  successors: ReadonlySet<string>;
  /** True for a node nested inside another (parallel branch, map or loop template). */
  inline: boolean;
  /** The workflow's type (`chat`, ...); absent when not known. */
  workflowType?: string;
  /** The server's settings a node may depend on; undefined ones are not judged (no server). */
  server: ServerSettings;
}

/** Server-side settings a definition is checked against when it is saved (DefinitionLimits). */
interface ServerSettings {
  /** Names of the configured LLM providers (`llmProviders`); undefined: not known here. */
  llmProviders?: readonly string[] | undefined;
  /** The models of the providers that list theirs (`llmProviders.<name>.models`). */
  llmModels?: Readonly<Record<string, readonly string[]>> | undefined;
  /** The provider nodes without `provider:` use; undefined: none (or not known here). */
  defaultLlmProvider?: string | undefined;
  /** Models with a price (`modelPrices`); undefined: not known here (no unpriced warnings). */
  pricedModels?: readonly string[] | undefined;
}

/** A node type as validation sees it (a `NodeType` of src/nodes/ is one). */
export interface NodeRules {
  type: string;
  /** The node's full schema (`nodeSchema(type, fields)`): unknown fields are problems. */
  schema: TSchema;
  /**
   * Cross-field rules the schema cannot say (referenced ids, exactly one of two fields). Runs only
   * on nodes that passed the schema, so fields have their declared types.
   */
  check?(node: GraphNode, ctx: NodeCheckContext): ErrorDetail[];
  /**
   * What is allowed but worth saying when the workflow is saved (an unpriced model): the save's
   * `warnings[]`. Runs only on nodes that passed the schema.
   */
  warnings?(node: GraphNode, ctx: NodeCheckContext): ErrorDetail[];
  /**
   * Fields whose expressions may read `secrets.NAME`: fields the executor renders when the node
   * runs, where a value goes only where the type sends it (a command's `env`, an http node's
   * headers). None by default: what the engine decides (`if`, conditions, a child's params)
   * never sees a secret.
   */
  secretFields?: readonly string[];
  /** Fields the executor renders itself, per item or iteration. */
  lateFields?: readonly string[];
  /**
   * Names an expression sees besides the execution's, as the executor passes them: `inline` to
   * the nodes it runs inline, and per late field to that field alone.
   */
  expressionNames?: {
    inline?: readonly string[];
    fields?: Readonly<Record<string, readonly string[]>>;
  };
}

/** The node types a definition may use, by type name, in registration order. */
export type NodeCatalog = ReadonlyMap<string, NodeRules>;

/**
 * Workflows and their versions: the rules of DESIGN §3 on top of the store. A workflow's read
 * shape shows the active version's graph, or the newest draft's while nothing is published.
 * Versions are appended, never rewritten; appends are compare-and-set on `latest_version`.
 * The read shapes are `workflow-views.ts`.
 */
import {
  type Concurrency,
  type DefinitionLimits,
  type Graph,
  type NodeCatalog,
  type RuntimeConfig,
  type Trigger,
  type WorkflowDefinition,
  namedSchedules,
  parseWorkflowYaml,
  validateDefinitionParts,
  workflowToYaml,
} from '../definition/index.ts';
import { AppError, type ErrorDetail } from '../errors.ts';
import { newId } from '../ids.ts';
import { type Database, type Db, isUniqueViolation } from '../store/db.ts';
import { restartSchedules } from '../store/schedules.ts';
import * as versionsSql from '../store/versions.ts';
import type { VersionRow } from '../store/versions.ts';
import * as workflowsSql from '../store/workflows.ts';
import type { WorkflowRow } from '../store/workflows.ts';
import type { WorkflowType } from '../types.ts';
import { type Clock, isoNow } from '../clock.ts';
import { type Page, decodeCursor, toPage } from './pagination.ts';
import type {
  CreateInput,
  ListQuery,
  PatchInput,
  VersionSummary,
  VersionView,
  WorkflowView,
} from '../wire/workflows.ts';
import {
  type Variables,
  concurrencyOf,
  emptyGraph,
  versionView,
  workflowView,
} from './workflow-views.ts';

/** Appends retry this often when another writer appended at the same moment. */
const appendAttempts = 5;

export class WorkflowService {
  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    private readonly limits: DefinitionLimits,
    private readonly types: NodeCatalog,
  ) {}

  async list(query: ListQuery): Promise<Page<WorkflowView>> {
    const limit = query.limit ?? 50;
    const beforeId = decodeCursor(query.cursor);
    const rows = await workflowsSql.listWorkflows(this.database.db, {
      ...(query.type !== undefined && { type: query.type }),
      ...(query.status !== undefined && { status: query.status }),
      ...(query.q !== undefined && { q: query.q }),
      ...(query.createdBy !== undefined && { createdBy: query.createdBy }),
      ...(beforeId !== undefined && { beforeId }),
      includeArchived: query.includeArchived ?? false,
      limit: limit + 1,
    });
    const page = toPage(rows, limit, (r) => r);
    const items = await Promise.all(
      page.items.map(async (row) => this.view(this.database.db, row)),
    );
    return { items, nextCursor: page.nextCursor };
  }

  async get(id: string): Promise<WorkflowView> {
    return this.view(this.database.db, await this.require(this.database.db, id));
  }

  async create(
    input: CreateInput,
    actor: string,
    source: 'create' | 'import' = 'create',
  ): Promise<WorkflowView> {
    const warnings: ErrorDetail[] = [];
    const parts = validateDefinitionParts(
      {
        graph: input.graph ?? emptyGraph(),
        variables: input.variables ?? {},
        runtimeConfig: input.runtimeConfig ?? {},
        triggerConfig: input.triggerConfig ?? [],
        ...(input.concurrency !== undefined && { concurrency: input.concurrency }),
        workflowType: input.type ?? 'automation',
      },
      this.limits,
      this.types,
      warnings,
    );
    const now = isoNow(this.clock);
    const row: WorkflowRow = {
      id: newId('wf', this.clock.now().getTime()),
      name: input.name,
      description: input.description ?? '',
      type: input.type ?? 'automation',
      status: 'draft',
      runtime_config: JSON.stringify(parts.runtimeConfig ?? {}),
      latest_version: 1,
      active_version: null,
      created_by: actor,
      created_at: now,
      updated_at: now,
      archived_at: null,
    };
    const version: VersionRow = {
      workflow_id: row.id,
      version: 1,
      status: 'draft',
      graph: JSON.stringify(parts.graph ?? emptyGraph()),
      variables: JSON.stringify(parts.variables ?? {}),
      trigger_config: JSON.stringify(parts.triggerConfig ?? []),
      concurrency: concurrencyColumn(parts.concurrency),
      source,
      restored_from: null,
      created_by: actor,
      created_at: now,
      published_at: null,
    };
    try {
      await this.database.transaction(async (trx) => {
        await workflowsSql.insertWorkflow(trx, row);
        await versionsSql.insertVersion(trx, version);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(input.name);
      throw err;
    }
    return { ...(await this.get(row.id)), warnings };
  }

  async patch(id: string, input: PatchInput, actor: string): Promise<WorkflowView> {
    const warnings: ErrorDetail[] = [];
    // Node rules that depend on the type (a chat's llm node) need it; it never changes.
    const workflowType =
      input.graph === undefined ? undefined : (await this.require(this.database.db, id)).type;
    const parts = validateDefinitionParts(
      {
        ...(workflowType !== undefined && { workflowType }),
        ...(input.graph !== undefined && { graph: input.graph }),
        ...(input.variables !== undefined && { variables: input.variables }),
        ...(input.runtimeConfig !== undefined && { runtimeConfig: input.runtimeConfig }),
        ...(input.triggerConfig !== undefined && { triggerConfig: input.triggerConfig }),
        ...(input.concurrency !== undefined && { concurrency: input.concurrency }),
      },
      this.limits,
      this.types,
      warnings,
    );
    await this.appendWith(
      id,
      async (trx, wf, latest) => {
        const now = isoNow(this.clock);
        const meta: Partial<Pick<WorkflowRow, 'name' | 'description' | 'runtime_config'>> = {};
        if (input.name !== undefined && input.name !== wf.name) meta.name = input.name;
        if (input.description !== undefined) meta.description = input.description;
        if (parts.runtimeConfig !== undefined)
          meta.runtime_config = JSON.stringify(parts.runtimeConfig);
        if (Object.keys(meta).length > 0) {
          try {
            await workflowsSql.updateWorkflowMeta(trx, id, meta, now);
          } catch (err) {
            if (isUniqueViolation(err)) throw nameTaken(input.name ?? wf.name);
            throw err;
          }
        }
        const next = {
          graph: parts.graph !== undefined ? JSON.stringify(parts.graph) : latest.graph,
          variables:
            parts.variables !== undefined ? JSON.stringify(parts.variables) : latest.variables,
          trigger_config:
            parts.triggerConfig !== undefined
              ? JSON.stringify(parts.triggerConfig)
              : latest.trigger_config,
          concurrency:
            parts.concurrency !== undefined
              ? concurrencyColumn(parts.concurrency)
              : latest.concurrency,
        };
        const changed =
          next.graph !== latest.graph ||
          next.variables !== latest.variables ||
          next.trigger_config !== latest.trigger_config ||
          next.concurrency !== latest.concurrency;
        return changed ? { ...next, source: 'patch', restored_from: null } : undefined;
      },
      actor,
    );
    return { ...(await this.get(id)), warnings };
  }

  /** Soft delete: archives the workflow and all its versions. Deleting twice is a no-op. */
  async archive(id: string): Promise<void> {
    await this.database.transaction(async (trx) => {
      const wf = await this.require(trx, id);
      if (wf.status === 'archived') return;
      const now = isoNow(this.clock);
      if (!(await workflowsSql.archiveWorkflow(trx, id, now))) throw conflict(id);
      await versionsSql.archiveVersions(trx, id);
    });
  }

  async listVersions(id: string): Promise<{ items: VersionSummary[] }> {
    const wf = await this.require(this.database.db, id);
    const rows = await versionsSql.listVersions(this.database.db, id);
    return {
      items: rows.map((r) => {
        const {
          graph,
          variables: _v,
          triggerConfig: _t,
          concurrency: _c,
          ...rest
        } = versionView(r, wf);
        return { ...rest, nodeCount: graph.nodes.length };
      }),
    };
  }

  async getVersion(id: string, version: number): Promise<VersionView> {
    const wf = await this.require(this.database.db, id);
    const row = await versionsSql.getVersion(this.database.db, id, version);
    if (!row) throw versionNotFound(id, version);
    return versionView(row, wf);
  }

  /** A new draft whose graph, variables and triggers are those of an older version. */
  async restore(id: string, version: number, actor: string): Promise<VersionView> {
    const created = await this.appendWith(
      id,
      async (trx) => {
        const old = await versionsSql.getVersion(trx, id, version);
        if (!old) throw versionNotFound(id, version);
        return {
          graph: old.graph,
          variables: old.variables,
          trigger_config: old.trigger_config,
          concurrency: old.concurrency,
          source: 'restore',
          restored_from: version,
        };
      },
      actor,
    );
    return this.getVersion(id, created);
  }

  /** The newest version, when it is a draft, becomes published and active. */
  async publish(id: string): Promise<WorkflowView> {
    await this.database.transaction(async (trx) => {
      const wf = await this.requireLive(trx, id);
      const latest = await versionsSql.getVersion(trx, id, wf.latest_version);
      if (!latest || latest.status !== 'draft') {
        throw new AppError('ERR_WORKFLOW_NO_DRAFT', {
          context: { workflowId: id, version: wf.latest_version, status: latest?.status },
        });
      }
      const graph = JSON.parse(latest.graph) as Graph;
      if (graph.nodes.length === 0) {
        throw new AppError('ERR_WORKFLOW_INVALID', {
          message: 'A workflow needs at least one node to be published.',
          details: [{ path: 'graph.nodes', message: 'must have at least one node' }],
          context: { workflowId: id, version: latest.version },
        });
      }
      const now = isoNow(this.clock);
      if (!(await versionsSql.publishVersion(trx, id, latest.version, now))) throw conflict(id);
      if (!(await workflowsSql.setActiveVersion(trx, id, latest.version, now))) throw conflict(id);
      await this.restartReturningSchedules(trx, wf, latest, now);
    });
    return this.get(id);
  }

  /** An existing published version becomes the active one (rollback or roll forward). */
  async promote(id: string, version: number): Promise<WorkflowView> {
    await this.database.transaction(async (trx) => {
      const wf = await this.requireLive(trx, id);
      const row = await versionsSql.getVersion(trx, id, version);
      if (!row) throw versionNotFound(id, version);
      if (row.status !== 'published') {
        throw new AppError('ERR_VERSION_NOT_PUBLISHED', {
          context: { workflowId: id, version, status: row.status },
        });
      }
      const now = isoNow(this.clock);
      if (!(await workflowsSql.setActiveVersion(trx, id, version, now))) throw conflict(id);
      await this.restartReturningSchedules(trx, wf, row, now);
    });
    return this.get(id);
  }

  /**
   * Schedules the new active version has and the one it replaces had not start counting now:
   * the ticks of the time they were absent never fire. Schedules both have keep their cursor.
   */
  private async restartReturningSchedules(
    trx: Db,
    wf: WorkflowRow,
    next: VersionRow,
    now: string,
  ): Promise<void> {
    const before =
      wf.active_version === null
        ? undefined
        : await versionsSql.getVersion(trx, wf.id, wf.active_version);
    const had = new Set(
      before === undefined
        ? []
        : namedSchedules(JSON.parse(before.trigger_config) as Trigger[]).map((s) => s.id),
    );
    const returning = namedSchedules(JSON.parse(next.trigger_config) as Trigger[])
      .map((s) => s.id)
      .filter((sid) => !had.has(sid));
    await restartSchedules(trx, wf.id, returning, now);
  }

  /** YAML of the active version (the newest draft while nothing is published), or of `version`. */
  async exportYaml(
    id: string,
    version?: number,
  ): Promise<{ yaml: string; version: number; name: string }> {
    const wf = await this.require(this.database.db, id);
    const v = version ?? wf.active_version ?? wf.latest_version;
    const row = await versionsSql.getVersion(this.database.db, id, v);
    if (!row) throw versionNotFound(id, v);
    const def: WorkflowDefinition = {
      name: wf.name,
      description: wf.description,
      type: wf.type as WorkflowType,
      variables: JSON.parse(row.variables) as Variables,
      runtimeConfig: JSON.parse(wf.runtime_config) as RuntimeConfig,
      triggerConfig: JSON.parse(row.trigger_config) as Trigger[],
      graph: JSON.parse(row.graph) as Graph,
      ...concurrencyOf(row),
    };
    return { yaml: workflowToYaml(def, this.types), version: v, name: wf.name };
  }

  /**
   * Checks a YAML document as a save would, with this server's limits and settings (e.g.
   * `allowHostNetwork`), without saving anything; throws the same 422 a save would.
   */
  validateYaml(text: string): {
    valid: true;
    name: string;
    nodes: number;
    warnings: ErrorDetail[];
  } {
    const warnings: ErrorDetail[] = [];
    const def = parseWorkflowYaml(text, this.limits, this.types, warnings);
    return { valid: true, name: def.name, nodes: def.graph.nodes.length, warnings };
  }

  /** Creates a new workflow (draft version 1) from a YAML document. */
  async importYaml(text: string, actor: string): Promise<WorkflowView> {
    const def = parseWorkflowYaml(text, this.limits, this.types);
    return this.create(
      {
        name: def.name,
        description: def.description,
        type: def.type,
        graph: def.graph,
        variables: def.variables,
        runtimeConfig: def.runtimeConfig,
        triggerConfig: def.triggerConfig,
        ...(def.concurrency && { concurrency: def.concurrency }),
      },
      actor,
      'import',
    );
  }

  /**
   * Runs `build` in a transaction with the live workflow and its newest version; when it returns
   * version content, appends it as a new draft with a compare-and-set on `latest_version`.
   * Returns the resulting newest version number.
   */
  private async appendWith(
    id: string,
    build: (
      trx: Db,
      wf: WorkflowRow,
      latest: VersionRow,
    ) => Promise<
      | Pick<
          VersionRow,
          'graph' | 'variables' | 'trigger_config' | 'concurrency' | 'source' | 'restored_from'
        >
      | undefined
    >,
    actor: string,
  ): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.database.transaction(async (trx) => {
          const wf = await this.requireLive(trx, id);
          const latest = await versionsSql.getVersion(trx, id, wf.latest_version);
          if (!latest)
            throw new AppError('ERR_INTERNAL', {
              message: `workflow ${id} lacks version ${wf.latest_version}`,
            });
          const content = await build(trx, wf, latest);
          if (!content) return wf.latest_version;
          const now = isoNow(this.clock);
          const next = wf.latest_version + 1;
          if (!(await workflowsSql.bumpLatestVersion(trx, id, wf.latest_version, next, now)))
            throw conflict(id);
          await versionsSql.insertVersion(trx, {
            workflow_id: id,
            version: next,
            status: 'draft',
            ...content,
            created_by: actor,
            created_at: now,
            published_at: null,
          });
          return next;
        });
      } catch (err) {
        const retry =
          (err instanceof AppError && err.code === 'ERR_CONFLICT') ||
          (isUniqueViolation(err) && !(err instanceof AppError));
        if (!retry || attempt >= appendAttempts) throw isUniqueViolation(err) ? conflict(id) : err;
      }
    }
  }

  private async require(db: Db, id: string): Promise<WorkflowRow> {
    const row = await workflowsSql.getWorkflow(db, id);
    if (!row)
      throw new AppError('ERR_WORKFLOW_NOT_FOUND', {
        message: `No workflow ${id}.`,
        context: { workflowId: id },
      });
    return row;
  }

  private async requireLive(db: Db, id: string): Promise<WorkflowRow> {
    const row = await this.require(db, id);
    if (row.status === 'archived') {
      throw new AppError('ERR_WORKFLOW_ARCHIVED', {
        message: `Workflow ${id} is archived.`,
        context: { workflowId: id, status: row.status },
      });
    }
    return row;
  }

  private async view(db: Db, row: WorkflowRow): Promise<WorkflowView> {
    const shown = row.active_version ?? row.latest_version;
    return workflowView(row, await versionsSql.getVersion(db, row.id, shown));
  }
}

/** The stored form of a validated `concurrency` part (null: none). */
function concurrencyColumn(c: Concurrency | null | undefined): string | null {
  return c ? JSON.stringify(c) : null;
}

function versionNotFound(id: string, version: number): AppError {
  return new AppError('ERR_VERSION_NOT_FOUND', {
    message: `Workflow ${id} has no version ${version}.`,
    context: { workflowId: id, version },
  });
}

function nameTaken(name: string): AppError {
  return new AppError('ERR_WORKFLOW_NAME_TAKEN', {
    message: `A live workflow named '${name}' exists already.`,
    context: { name },
  });
}

function conflict(id: string): AppError {
  return new AppError('ERR_CONFLICT', { context: { workflowId: id } });
}

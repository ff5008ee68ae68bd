import { type Static, Type } from 'typebox';
import { DurationString, NonEmptyString, nodeSchema } from '../definition/model.ts';
import { parseDuration } from '../definition/duration.ts';
import type { Sandbox } from '../runtime/types.ts';
import {
  type ToolLimits,
  type ToolName,
  type ToolOutcome,
  runTool,
  toolEnv,
  toolNames,
  toolSpecs,
} from './agent-tools.ts';
import {
  type McpSession,
  McpServerSchema,
  mcpServerProblems,
  openMcpServers,
} from './agent-mcp.ts';
import { runWorkflowTool, workflowToolSpec } from './agent-workflow-tool.ts';
import { cancelled, fail, formatMs } from './errors.ts';
import type { ExecContext, ExecResult, NodeUsage, StepReport } from './executor.ts';
import {
  type ChatMessage,
  type ChatOutcome,
  type ToolResult,
  chat,
  resolveProvider,
} from './llm-api.ts';
import { providerProblems, unpricedWarnings } from './llm.ts';
import { defineNodeType } from './node-type.ts';

/** The tools a node may list: the built-in ones, and `workflow`, which is never on by default. */
const agentToolNames = [...toolNames, 'workflow'] as const;

/** A bounded tool loop on an LLM whose tools run in the execution's sandbox. */
const AgentNodeSchema = nodeSchema('agent', {
  provider: Type.Optional(
    NonEmptyString({
      description: "a provider name from the server config; default: the server's default provider",
    }),
  ),
  model: NonEmptyString(),
  prompt: NonEmptyString({ description: 'the task' }),
  system: Type.Optional(Type.String()),
  tools: Type.Optional(
    Type.Array(Type.Union(agentToolNames.map((name) => Type.Literal(name))), {
      uniqueItems: true,
      description:
        'default: shell, read_file, write_file, list_files; `workflow` (run another workflow and wait) only when listed',
    }),
  ),
  workflows: Type.Optional(
    Type.Array(NonEmptyString(), {
      uniqueItems: true,
      description: 'ids or names the `workflow` tool may start; default any',
    }),
  ),
  mcpServers: Type.Optional(
    Type.Array(McpServerSchema, {
      maxItems: 16,
      description:
        "stdio MCP servers started in the execution's sandbox; their tools are offered as `<name>__<tool>`",
    }),
  ),
  maxSteps: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
  maxTokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
  onMaxSteps: Type.Optional(Type.Union([Type.Literal('fail'), Type.Literal('finish')])),
  temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
  shellTimeout: Type.Optional(DurationString()),
  toolOutputBytes: Type.Optional(Type.Integer({ minimum: 256, maximum: 1024 * 1024 })),
});

/*
 * The `agent` executor: the model is called with the task and the tools; each tool call it makes
 * runs in the sandbox and its result goes back to it, until it answers without tools. Steps
 * (model calls) are bounded by `maxSteps`, tokens over all steps by `maxTokens`, time by the
 * node's timeout. Usage is summed over the steps and priced as an `llm` node's.
 */
type AgentConfig = Static<typeof AgentNodeSchema>;

const defaultMaxSteps = 20;
const defaultTokenBudget = 200_000;
/** Output tokens asked per step (Anthropic requires a value), never more than the budget left. */
const stepOutputTokens = 4096;
const defaultShellTimeoutMs = 120_000;
const defaultToolOutputBytes = 16 * 1024;
/** Per step in the `transcript` output: the answer or a tool result, cut to this many characters. */
const transcriptChars = 500;
const transcriptSteps = 50;

interface TranscriptStep {
  step: number;
  text: string;
  tools: { name: string; isError: boolean; result: string }[];
}

async function executeAgent(ctx: ExecContext<AgentConfig>): Promise<ExecResult> {
  const node = ctx.node;
  const target = resolveProvider(ctx, node.provider);
  if ('failed' in target) return target.failed;
  const shellTimeoutMs =
    node.shellTimeout === undefined ? defaultShellTimeoutMs : parseDuration(node.shellTimeout);
  if (shellTimeoutMs === undefined)
    return fail(
      'ERR_NODE_CONFIG',
      `shell_timeout ${JSON.stringify(node.shellTimeout)} is not a duration`,
    );
  const limits: ToolLimits = {
    shellTimeoutMs,
    outputBytes: node.toolOutputBytes ?? defaultToolOutputBytes,
  };
  const tools: (ToolName | 'workflow')[] = node.tools ?? [...toolNames];
  const maxSteps = node.maxSteps ?? defaultMaxSteps;
  const budget = node.maxTokens ?? defaultTokenBudget;
  if (ctx.signal.aborted) return cancelled(ctx.signal);

  const startedAt = performance.now();
  const remainingMs = () =>
    ctx.timeoutMs === undefined ? undefined : ctx.timeoutMs - (performance.now() - startedAt);
  const label = `${target.name}/${node.model}`;
  const messages: ChatMessage[] = [{ role: 'user', content: node.prompt }];
  const transcript: TranscriptStep[] = [];
  let promptTokens = 0;
  let completionTokens = 0;
  let runtimeSeconds = 0;
  let toolCalls = 0;
  let sandbox: Sandbox | undefined;
  let env: Record<string, string> = {};

  const usage = (): NodeUsage => ({
    model: node.model,
    promptTokens,
    completionTokens,
    ...(runtimeSeconds > 0 && { runtimeSeconds }),
  });
  const outputs = (answer: string, steps: number, finishReason: string | null) => ({
    answer,
    steps,
    toolCalls,
    transcript: transcript.slice(-transcriptSteps),
    usage: { promptTokens, completionTokens },
    model: node.model,
    finishReason,
  });
  const timedOut = () =>
    fail('ERR_NODE_TIMEOUT', `agent timed out after ${formatMs(ctx.timeoutMs ?? 0)}`, {
      usage: usage(),
    });

  let mcp: McpSession | undefined;
  if ((node.mcpServers ?? []).length > 0) {
    // The servers' tools are part of the first request: the environment is made now.
    sandbox = await ctx.sandbox();
    env = toolEnv(ctx, sandbox, node.env);
    const opened = await openMcpServers(ctx, sandbox, env, node.mcpServers!, remainingMs);
    if ('failed' in opened) return opened.failed;
    mcp = opened;
  }
  // The step under way, reported (an `agent.step` event) once its tool calls ran or the loop ends.
  let unreported: StepReport | undefined;
  const report = (finishReason?: string) => {
    if (unreported === undefined) return;
    if (finishReason !== undefined) unreported.finishReason = finishReason;
    ctx.step?.(unreported);
    unreported = undefined;
  };
  const specs = [
    ...tools.map((name) => (name === 'workflow' ? workflowToolSpec : toolSpecs[name])),
    ...(mcp?.specs ?? []),
  ];
  try {
    for (let step = 1; ; step++) {
      const left = budget - promptTokens - completionTokens;
      if (left <= 0) {
        return fail(
          'ERR_AGENT_TOKEN_BUDGET',
          `agent used its max_tokens of ${budget} in ${step - 1} step(s) before it finished`,
          { usage: usage(), outputs: outputs('', step - 1, 'token_budget') },
        );
      }
      const outcome = await callStep(ctx, target, label, remainingMs, {
        model: node.model,
        messages,
        maxTokens: Math.min(stepOutputTokens, left),
        ...(node.system !== undefined && { system: node.system }),
        ...(node.temperature !== undefined && { temperature: node.temperature }),
        ...(specs.length > 0 && { tools: specs }),
      });
      if ('failed' in outcome) {
        const failed = outcome.failed;
        return failed.status === 'failed' ? { ...failed, usage: usage() } : failed;
      }
      const { completion } = outcome;
      promptTokens += completion.promptTokens ?? 0;
      completionTokens += completion.completionTokens ?? 0;
      const calls = completion.toolCalls;
      unreported = {
        step,
        toolCalls: [],
        usage: {
          prompt: completion.promptTokens ?? 0,
          completion: completion.completionTokens ?? 0,
        },
        finishReason: completion.finishReason,
      };
      const stepCalls = unreported.toolCalls;
      ctx.log(
        'system',
        `agent step ${step}/${maxSteps}: ${label} → ${outcome.status} (${outcome.ms} ms), ${completion.promptTokens ?? '?'} prompt + ${completion.completionTokens ?? '?'} completion tokens, ${calls.length} tool call(s)`,
      );
      const record: TranscriptStep = { step, text: cut(completion.text), tools: [] };
      transcript.push(record);
      const used = promptTokens + completionTokens;
      if (used > budget) {
        report('token_budget');
        return fail(
          'ERR_AGENT_TOKEN_BUDGET',
          `agent used ${used} tokens in ${step} step(s), over its max_tokens of ${budget}`,
          { usage: usage(), outputs: outputs(completion.text, step, 'token_budget') },
        );
      }
      if (calls.length === 0) {
        return {
          status: 'succeeded',
          outputs: outputs(completion.text, step, completion.finishReason),
          usage: usage(),
        };
      }
      if (step >= maxSteps) {
        ctx.log(
          'system',
          `agent reached max_steps (${maxSteps}) with ${calls.length} tool call(s) not run`,
        );
        report('max_steps');
        if (node.onMaxSteps === 'finish') {
          return {
            status: 'succeeded',
            outputs: outputs(completion.text, step, 'max_steps'),
            usage: usage(),
          };
        }
        return fail(
          'ERR_AGENT_MAX_STEPS',
          `agent reached max_steps (${maxSteps}) and the model still asks for tools`,
          { usage: usage(), outputs: outputs(completion.text, step, 'max_steps') },
        );
      }

      messages.push({ role: 'assistant', content: completion.text, toolCalls: calls });
      const results: ToolResult[] = [];
      for (const call of calls) {
        toolCalls++;
        const name =
          tools.find((t) => t === call.name) ?? (mcp?.has(call.name) ? call.name : undefined);
        if (name === undefined) {
          const content = `error: unknown tool ${JSON.stringify(call.name)} (available: ${specs.map((t) => t.name).join(', ')})`;
          ctx.log('system', `agent tool ${call.name}: unknown tool`);
          results.push({ id: call.id, content, isError: true });
          stepCalls.push({
            id: call.id,
            name: call.name,
            input: call.input,
            ok: false,
            durationMs: 0,
            error: content,
          });
          record.tools.push({ name: call.name, isError: true, result: cut(content) });
          continue;
        }
        let ran: ToolOutcome;
        const callStarted = performance.now();
        if (mcp?.has(name) === true) {
          ran = await mcp.call(name, call.input, limits, remainingMs());
        } else if (name === 'workflow') {
          // A child execution, not a process: it needs no sandbox of this one.
          ran = await runWorkflowTool(
            ctx,
            call.input,
            call.id,
            node.workflows,
            limits.outputBytes,
            remainingMs(),
          );
        } else {
          if (sandbox === undefined) {
            // The execution's environment is made on the first tool call, as for a command node.
            sandbox = await ctx.sandbox();
            env = toolEnv(ctx, sandbox, node.env);
          }
          ran = await runTool(
            ctx,
            sandbox,
            env,
            name as ToolName,
            call.input,
            limits,
            remainingMs(),
          );
        }
        runtimeSeconds += ran.seconds;
        stepCalls.push({
          id: call.id,
          name,
          input: call.input,
          ok: !ran.isError && ran.stopped === undefined,
          durationMs: performance.now() - callStarted,
          ...((ran.isError || ran.stopped !== undefined) && {
            error: ran.stopped ?? ran.content,
          }),
        });
        ctx.log(
          'system',
          `agent tool ${name}(${shortArgs(call.input)}) → ${ran.isError ? 'error, ' : ''}${ran.summary}`,
        );
        if (ran.stopped === 'timeout') return timedOut();
        if (ran.stopped === 'cancelled') return cancelled(ctx.signal, { usage: usage() });
        results.push({ id: call.id, content: ran.content, isError: ran.isError });
        record.tools.push({ name, isError: ran.isError, result: cut(ran.content) });
      }
      messages.push({ role: 'tool', results });
      report();
    }
  } finally {
    report();
    await mcp?.close();
  }
}

/** One step's call; the provider layer (llm-api.ts) tries a 429, 5xx or lost call again. */
async function callStep(
  ctx: ExecContext<AgentConfig>,
  target: Exclude<ReturnType<typeof resolveProvider>, { failed: ExecResult }>,
  label: string,
  remainingMs: () => number | undefined,
  request: Parameters<typeof chat>[2],
): Promise<ChatOutcome> {
  const left = remainingMs();
  if (left !== undefined && left <= 0) {
    return {
      failed: fail('ERR_NODE_TIMEOUT', `agent timed out after ${formatMs(ctx.timeoutMs ?? 0)}`),
    };
  }
  return chat(ctx, target, request, label, { timeoutMs: left, signal: ctx.signal });
}

/** Whether the node's `tools` offer the `workflow` tool (the schema types the list loosely). */
function listsWorkflowTool(tools: readonly (typeof agentToolNames)[number][] | undefined): boolean {
  return tools?.includes('workflow') === true;
}

function cut(text: string): string {
  return text.length > transcriptChars ? `${text.slice(0, transcriptChars)}…` : text;
}

/** The tool's arguments for a log line: each value shown briefly. */
function shortArgs(input: unknown): string {
  if (typeof input !== 'object' || input === null) return JSON.stringify(input) ?? '';
  return Object.entries(input)
    .map(([key, value]) => {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      const flat = (text ?? '').replace(/\s+/g, ' ');
      return `${key}=${JSON.stringify(flat.length > 60 ? `${flat.slice(0, 60)}…` : flat)}`;
    })
    .join(', ');
}

export const agentNode = defineNodeType({
  type: 'agent',
  schema: AgentNodeSchema,
  description:
    "Runs a bounded tool loop on an LLM; its tools (shell, read_file, write_file, list_files, and the tools of the stdio MCP servers in `mcp_servers`) run in the execution's sandbox, and `workflow` (when listed) runs another workflow as a child and waits.",
  outputs: [
    { name: 'answer', type: 'string', description: "the model's final answer" },
    { name: 'steps', type: 'int', description: 'model calls made' },
    { name: 'toolCalls', type: 'int', description: 'tool calls made' },
    {
      name: 'transcript',
      type: 'list',
      description:
        'per step (the last 50): `{step, text, tools: [{name, isError, result}]}`, texts cut at 500 characters',
    },
    {
      name: 'usage',
      type: 'map',
      description: '`promptTokens` and `completionTokens` over all steps',
    },
    { name: 'model', type: 'string', description: 'the model called' },
    {
      name: 'finishReason',
      type: 'string',
      description: "the provider's last finish reason, or `max_steps` (`on_max_steps: finish`)",
    },
  ],
  check: (node, ctx) => [
    ...providerProblems(node, ctx),
    ...mcpServerProblems(node.mcpServers, ctx),
    // A list that limits a tool the node is not offered is a mistake, not a no-op.
    ...(node.workflows !== undefined && !listsWorkflowTool(node.tools)
      ? [
          {
            path: ctx.field('workflows'),
            message: 'limits the workflow tool, which tools does not list',
          },
        ]
      : []),
  ],
  warnings: unpricedWarnings,
  execute: executeAgent,
});

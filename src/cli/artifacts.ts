/** `yard artifacts list EXEC_ID` and `yard artifacts download EXEC_ID PATH [-o FILE]`. */
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import type { ArtifactView as Artifact } from '../wire/artifacts.ts';
import { clientFor, type GlobalOptions } from './context.ts';
import { usageError } from './exit-codes.ts';
import { formatBytes, formatTime, note, printJson, printTable } from './output.ts';
import { executionPath, resolveExecution } from './refs.ts';

const workflowOption = [
  '-w, --workflow <workflow>',
  'the execution’s workflow (id or name); else it is looked up',
] as const;

export function registerArtifacts(program: Command): void {
  const art = program.command('artifacts').description('files executions produced: list, download');

  art
    .command('list')
    .description('an execution’s artifact files')
    .argument('<execution>', 'exec_… or workflow-execution/exec_…')
    .option(...workflowOption)
    .action(async (execution: string, opts: { workflow?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const ref = await resolveExecution(client, execution, opts.workflow);
      const page = await client.get<{ items: Artifact[] }>(`${executionPath(ref)}/artifacts`);
      if (g.json) return printJson(page);
      printTable(
        page.items,
        [
          { header: 'path', value: (a) => a.path },
          { header: 'size', value: (a) => formatBytes(a.size) },
          { header: 'type', value: (a) => a.contentType },
          { header: 'node', value: (a) => a.nodeId },
          { header: 'expires', value: (a) => (a.expired ? 'expired' : formatTime(a.expiresAt)) },
        ],
        'no artifacts',
      );
    });

  art
    .command('download')
    .description('download one artifact (to ./<file name>, -o FILE, or -o - for stdout)')
    .argument('<execution>', 'exec_… or workflow-execution/exec_…')
    .argument('<path>', 'the artifact path, as listed')
    .option(...workflowOption)
    .option('-o, --output <file>', 'where to write it (- for stdout)')
    .action(
      async (
        execution: string,
        artifactPath: string,
        opts: { workflow?: string; output?: string },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const client = clientFor(g);
        const ref = await resolveExecution(client, execution, opts.workflow);
        const encoded = artifactPath.split('/').map(encodeURIComponent).join('/');
        if (encoded === '') throw usageError('the artifact path is empty');
        const res = await client.fetch('GET', `${executionPath(ref)}/artifacts/${encoded}`);
        const body = res.body
          ? Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>)
          : Readable.from([]);
        if (opts.output === '-') {
          await pipeline(body, process.stdout, { end: false });
          return;
        }
        const target = opts.output ?? path.basename(artifactPath);
        if (path.dirname(target) !== '.') mkdirSync(path.dirname(target), { recursive: true });
        await pipeline(body, createWriteStream(target));
        const size = res.headers.get('content-length');
        if (g.json)
          printJson({
            path: artifactPath,
            file: target,
            size: size === null ? null : Number(size),
          });
        else note(`wrote ${target}${size === null ? '' : ` (${formatBytes(Number(size))})`}`);
      },
    );
}

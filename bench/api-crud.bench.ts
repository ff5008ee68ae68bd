/**
 * Workflow definitions API through real HTTP on loopback: create (a 10-node chain) and read, on
 * SQLite and on PostgreSQL (TEST_DATABASE_URL) when it answers. One JSON line per dialect.
 */
import { type DialectName, postgresUnavailable } from '../test/helpers/dialects.ts';
import { composeOnFreshPlace } from '../test/helpers/harness.ts';
import { runPool, summarize } from './stats.ts';

const token = `sy_${'c'.repeat(40)}`;
const creates = Number(process.env.BENCH_CREATES ?? 1000);
const reads = Number(process.env.BENCH_READS ?? 5000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);

const graph = {
  nodes: Array.from({ length: 10 }, (_, i) => ({
    id: `s${i}`,
    type: 'command',
    run: `echo ${i}`,
    ...(i > 0 && { needs: [`s${i - 1}`] }),
  })),
};

async function bench(dialect: DialectName): Promise<void> {
  const { yard, place } = await composeOnFreshPlace(dialect, { token });
  try {
    const base = await yard.app.listen({ port: 0, host: '127.0.0.1' });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const ids: string[] = [];
    let t0 = performance.now();
    const createLat = await runPool(creates, concurrency, async (i) => {
      const res = await fetch(`${base}/api/v1/workflows`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: `bench-${i}`, graph }),
      });
      if (res.status !== 201) throw new Error(`create answered ${res.status}`);
      ids.push(((await res.json()) as { id: string }).id);
    });
    const createSecs = (performance.now() - t0) / 1000;
    t0 = performance.now();
    const readLat = await runPool(reads, concurrency, async (i) => {
      const res = await fetch(`${base}/api/v1/workflows/${ids[i % ids.length]}`, { headers });
      if (res.status !== 200) throw new Error(`read answered ${res.status}`);
      await res.arrayBuffer();
    });
    const readSecs = (performance.now() - t0) / 1000;
    const c = summarize(createLat);
    const r = summarize(readLat);
    process.stdout.write(
      `${JSON.stringify({
        bench: 'api_crud',
        dialect,
        concurrency,
        creates,
        creates_per_s: Math.round(creates / createSecs),
        create_p50_ms: c.p50_ms,
        create_p99_ms: c.p99_ms,
        reads,
        reads_per_s: Math.round(reads / readSecs),
        read_p50_ms: r.p50_ms,
        read_p99_ms: r.p99_ms,
      })}\n`,
    );
  } finally {
    await yard.close();
    await place.cleanup();
  }
}

await bench('sqlite');
const why = await postgresUnavailable();
if (why === undefined) await bench('postgres');
else process.stderr.write(`api_crud: skipping PostgreSQL: ${why}\n`);

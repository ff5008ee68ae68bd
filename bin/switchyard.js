#!/usr/bin/env node
// `switchyard serve|migrate`, the server: the compiled JavaScript in dist/. In a source checkout
// (src/ beside dist/) an out-of-date dist/ is rebuilt first; an installed package ships dist/ only.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

if (existsSync(new URL('../src/', import.meta.url))) {
  const { buildOrExit } = await import('../scripts/build.js');
  await buildOrExit({ ifStale: true });
}
await import('../dist/main.js');

/**
 * `npm start`: compiles src/ when dist/ is missing or stale, then runs the built server in this
 * same process (no child), so the signal a service manager sends to `npm start` reaches the
 * server's own SIGTERM handler. Flags after `npm start --` go to the server.
 */
import { buildOrExit } from './build.js';

await buildOrExit({ ifStale: true });
await import('../dist/main.js');

/** `npm start`: serve on the configured port (3000), SQLite under ./data unless DATABASE_URL is set. */
import { serve } from './cli/serve.ts';

await serve(process.argv.slice(2));

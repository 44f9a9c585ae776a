/**
 * A webhook server in a process of its own, for tests where the client must not share the server's
 * event loop (with one loop, reads and writes interleave too politely to show network races).
 * Prints the base URL on its first line of output and serves until killed.
 */
import { CapstanMetrics } from '../metrics.js';
import { createServer } from '../server.js';

const app = createServer({
  metrics: new CapstanMetrics({ defaultMetrics: false }),
  isReady: () => true,
  webhookSecrets: { github: 'a-real-secret' },
  onPush: () => undefined,
  limits: { debounceMs: 0, ratePerMinute: 100_000 },
});
process.stdout.write(`${await app.listen({ port: 0, host: '127.0.0.1' })}\n`);

import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { buildApp } from './app.js';
import { systemClock } from './clock.js';
import { ConfigError } from './config.js';
import { databasePath } from './db/open.js';
import { createSqliteStore } from './db/store.js';
import { createLogger } from './logger.js';
import { loadConfigAndSecrets } from './secrets.js';
import { unknownDataKeys, unknownDataKeysMessage } from './services/key-rotation.js';

// The HTTP service: load config, open the database, build the app, listen, stop on SIGTERM.

// V8's allocation-site pretenuring, off (issue 5, bench/analysis.md, tenth round). Under load V8
// finds a request's short-lived objects still alive at a scavenge and from then on allocates
// objects of those sites straight in the old generation, where they die but stay until a full
// GC. On Node 24 (the image's) POST /verify-2fa grew the old generation ~3 MB/s and the process
// to ~300 MB within 20 s; with pretenuring off the old generation stays at ~20 MB and the process
// at ~185 MB. The price: the scavenger copies the survivors instead, ~5-10 µs more CPU per write
// request on the tenth round's host, none the eleventh round's could show. Node 20 alone would
// not need it (~155 MB either way), but one GC behaviour on every Node is easier to reason about
// than one per version. (The young generation's size is the other half of Node 24's memory; it
// can only be set when node starts: NODE_OPTIONS in the Dockerfile.)
// The flag is read at each scavenge, so setting it here, before the first request, takes effect
// (the benchmark's peak RSS shows it). Here rather than on each command line (npm start, the
// image, compose, the benchmark) so that no way of starting the service can miss it.
setFlagsFromString('--no-allocation-site-pretenuring');

const SHUTDOWN_GRACE_MS = 8_000;

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

async function main(): Promise<void> {
  let config;
  let secrets;
  try {
    ({ config, secrets } = await loadConfigAndSecrets());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`The service cannot start. ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  if (secrets.createdApiKey) {
    // Shown once, on the terminal only (never through the logger), on the start that made it.
    process.stderr.write(
      `\nDevelopment API key (saved in ${config.keysDir}/api_key, shown only this once):\n\n    ${secrets.createdApiKey}\n\n` +
        'Send it as the X-API-Key header. Set API_KEY in production.\n\n',
    );
  }
  const store = createSqliteStore(databasePath(config.dataDir));
  const unknown = await unknownDataKeys({ store, keyRing: secrets.keyRing });
  if (unknown.length > 0) {
    store.close();
    process.stderr.write(`The service cannot start. ${unknownDataKeysMessage(unknown)}\n`);
    process.exit(1);
  }
  const app = await buildApp({ config, secrets, store, clock: systemClock, logger, version: version() });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // Requests in progress finish; a connection still open after the grace (a client stalled
    // mid-request) is closed, so a stop never waits for a client, and ends before docker's
    // 10 s turn into SIGKILL.
    const deadline = setTimeout(() => {
      logger.warn({ graceMs: SHUTDOWN_GRACE_MS }, 'closing the connections still open');
      app.server.closeAllConnections();
    }, SHUTDOWN_GRACE_MS);
    try {
      await app.close();
    } finally {
      clearTimeout(deadline);
      store.close();
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
}

main().catch((err: unknown) => {
  process.stderr.write(`The service stopped: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

import { readFileSync } from 'node:fs';
import { buildApp } from './app.js';
import { systemClock } from './clock.js';
import { ConfigError, loadConfig } from './config.js';
import { databasePath } from './db/open.js';
import { createSqliteStore } from './db/store.js';
import { createLogger } from './logger.js';
import { resolveSecrets } from './secrets.js';
import { unknownDataKeys, unknownDataKeysMessage } from './services/key-rotation.js';

// The HTTP service: load config, open the database, build the app, listen, stop on SIGTERM.

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
    config = loadConfig();
    secrets = await resolveSecrets(config);
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

import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import cron, { type ScheduledTask } from 'node-cron';
import { systemClock } from './clock.js';
import { ConfigError } from './config.js';
import { databasePath } from './db/open.js';
import { createSqliteStore, type SqliteStore } from './db/store.js';
import { createLogger } from './logger.js';
import { loadConfigAndSecrets } from './secrets.js';
import { createCodeLog } from './services/code-log.js';
import { unknownDataKeys, unknownDataKeysMessage } from './services/key-rotation.js';
import { createSeedService } from './services/seed-service.js';

// The code log worker (the cron sidecar): no HTTP server, the same database and repositories.

async function main(): Promise<void> {
  let config;
  let secrets;
  try {
    // The worker only opens sealed seeds: it needs the data key, not the RSA pair or the API key.
    ({ config, secrets } = await loadConfigAndSecrets(process.env, { rsa: false, apiKey: false }));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`The worker cannot start. ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel).child({ component: 'code-log-worker' });
  const dbFile = databasePath(config.dataDir);
  let task: ScheduledTask | null = null;
  let store: SqliteStore | null = null;
  const stop = async (signal: string) => {
    logger.info({ signal }, 'worker stopping');
    await task?.stop();
    store?.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  // The API creates the database; the worker only reads it. Started first, or with another
  // DATA_DIR than the API's, it waits for the file (saying so once a minute) rather than create
  // an empty database of its own, where no seed would ever be set.
  // Only a file that is not there yet is waited for; a path that cannot be one (through a file,
  // past a directory this user cannot enter) goes on to the open, which says what is wrong.
  const absent = () => {
    try {
      statSync(dbFile);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT';
    }
  };
  if (absent()) {
    const waiting = () => logger.warn({ database: dbFile }, "no database yet: waiting for the API to create it (the worker needs the API's DATA_DIR)");
    waiting();
    for (let s = 1; absent(); s++) {
      await sleep(1000);
      if (s % 60 === 0) waiting();
    }
  }
  store = createSqliteStore(dbFile);
  const unknown = await unknownDataKeys({ store, keyRing: secrets.keyRing });
  if (unknown.length > 0) {
    store.close();
    process.stderr.write(`The worker cannot start. ${unknownDataKeysMessage(unknown)}\n`);
    process.exit(1);
  }
  const seeds = createSeedService({ store, keyRing: secrets.keyRing, rsa: null, clock: systemClock, totpWindow: config.totpWindow });
  const log = createCodeLog({
    dir: config.cronDir,
    maxBytes: config.cronMaxBytes,
    codeAt: (t) => seeds.codeAt(t),
    // The database is named with each warning: a worker started on another DATA_DIR than the
    // API's finds no seed there, and this is how an operator sees which file it reads.
    warn: (message) => logger.warn({ database: dbFile }, message),
  });

  task = cron.schedule(
    config.cronSchedule,
    async (ctx) => {
      // The scheduled moment, not the moment the callback happened to run.
      const at = ctx?.date instanceof Date ? ctx.date.getTime() : systemClock.now();
      try {
        if (await log.tick(at)) logger.info({ file: log.file }, 'code line written');
      } catch (err) {
        logger.error({ err }, 'could not write the code line');
      }
    },
    { timezone: 'UTC', noOverlap: true, name: 'code-log' },
  );
  // seed_set, not seed: a field named seed is censored in every log line (logger.ts).
  logger.info({ schedule: config.cronSchedule, file: log.file, database: dbFile, seed_set: await seeds.isSet() }, 'code log worker started');
}

main().catch((err: unknown) => {
  process.stderr.write(`The worker stopped: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

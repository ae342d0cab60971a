// npm run rotate-keys: re-seals every sealed secret under DATA_KEY, in one transaction, and
// says how many rows changed. Run it with the new key as DATA_KEY and the old one(s) in
// DATA_KEYS_PREVIOUS, after every API process and worker has been restarted the same way: one
// still running with the old key as its DATA_KEY could not open the re-sealed rows and would
// go on sealing new ones under the old key. The transaction holds the write lock: the service
// goes on serving reads meanwhile, and its writes wait for the lock up to 5 s (then 503
// DATABASE_BUSY). Running it twice is harmless.
import { existsSync } from 'node:fs';
import { systemClock } from '../clock.js';
import { ConfigError, loadConfig } from '../config.js';
import { databasePath } from '../db/open.js';
import { createSqliteStore } from '../db/store.js';
import { StorageUnavailableError } from '../db/types.js';
import { resolveSecrets } from '../secrets.js';
import { rotateDataKeys } from '../services/key-rotation.js';

async function main(): Promise<number> {
  let config;
  let secrets;
  try {
    config = loadConfig();
    // Like the worker: only the data keys are needed, not the RSA pair or the API key.
    secrets = await resolveSecrets(config, { rsa: false, apiKey: false });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`rotate-keys cannot start. ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const file = databasePath(config.dataDir);
  if (!existsSync(file)) {
    // Opening would create an empty database and report "0 of 0": a wrong DATA_DIR would look like success.
    process.stderr.write(`rotate-keys changed nothing: there is no database at ${file} (check DATA_DIR).\n`);
    return 1;
  }
  let store;
  try {
    store = createSqliteStore(file);
  } catch (err) {
    process.stderr.write(`rotate-keys changed nothing: ${err instanceof Error ? err.message : String(err)}.\n`);
    return 1;
  }
  try {
    const r = await rotateDataKeys({ store, keyRing: secrets.keyRing, clock: systemClock });
    process.stdout.write(
      `Re-sealed ${r.changed} of ${r.examined} sealed rows under data key ${r.keyId}` +
        ` (${r.examined - r.changed} were already under it).\n`,
    );
    return 0;
  } catch (err) {
    // Nothing was changed: the transaction rolled back. Say why without printing any value.
    const why =
      err instanceof StorageUnavailableError
        ? err.reason === 'full'
          ? `the disk that holds ${file} is full`
          : 'another process held the database write lock past the busy timeout (5 s); run it again'
        : err instanceof Error && err.message.includes('unknown data key')
          ? 'a row is sealed with a key that is neither DATA_KEY nor in DATA_KEYS_PREVIOUS'
          : 'a sealed row could not be opened with the configured keys';
    process.stderr.write(`rotate-keys changed nothing: ${why}.\n`);
    return 1;
  } finally {
    store.close();
  }
}

process.exitCode = await main();

// A second service process on the same data directory, for the cross-process replay test:
//   FIXED_TIME_MS=<ms> DATA_DIR=... KEYS_DIR=... API_KEY=... DATA_KEY=... node --import tsx test/users/second-process.ts
// It prints "LISTENING <port>" once it accepts connections on 127.0.0.1, logs JSON to stderr,
// and stops on SIGTERM or when its stdin closes (the test process is gone, however it died),
// so no server outlives its test. The clock is fixed so both processes agree on the time step.
import type { AddressInfo } from 'node:net';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { databasePath } from '../../src/db/open.js';
import { createSqliteStore } from '../../src/db/store.js';
import { createLogger } from '../../src/logger.js';
import { resolveSecrets } from '../../src/secrets.js';

const fixed = Number(process.env.FIXED_TIME_MS);
if (!Number.isFinite(fixed)) throw new Error('FIXED_TIME_MS is required');
const config = loadConfig({ ...process.env, NODE_ENV: 'test' });
const secrets = await resolveSecrets(config);
const store = createSqliteStore(databasePath(config.dataDir));
const app = await buildApp({ config, secrets, store, clock: { now: () => fixed }, logger: createLogger('info', process.stderr) });
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`LISTENING ${(app.server.address() as AddressInfo).port}\n`);
const stop = () => {
  void app.close().then(() => {
    store.close();
    process.exit(0);
  });
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { databasePath } from '../../src/db/open.js';
import { createSqliteStore, type SqliteStore, type SqliteStoreOptions } from '../../src/db/store.js';
import { createLogger } from '../../src/logger.js';
import { resolveSecrets, type Secrets } from '../../src/secrets.js';
import { FakeClock } from './clock.js';
import { captureStream, mustNotLog } from './log-capture.js';

export const API_KEY = 'test-api-key-0123456789-abcdefghijklmnop';

export type TestApp = {
  app: FastifyInstance;
  store: SqliteStore;
  clock: FakeClock;
  config: Config;
  secrets: Secrets;
  dataDir: string;
  keysDir: string;
  publicKeyPath: string;
  /** Headers for an authenticated JSON request. */
  auth: Record<string, string>;
  close(): Promise<void>;
};

export function newDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'tfa-test-data-'));
}

/**
 * A fresh app on a temporary SQLite file (or `dataDir`, to reopen one), the run's RSA pair, a
 * fixed data key, a fake clock, and its log lines captured for the leak check.
 */
export async function createTestApp(
  opts: { env?: Record<string, string>; dataDir?: string; clock?: FakeClock; store?: SqliteStoreOptions } = {},
): Promise<TestApp> {
  const keysDir = inject('keysDir');
  const dataDir = opts.dataDir ?? newDataDir();
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    API_KEY,
    DATA_KEY: TEST_DATA_KEY,
    KEYS_DIR: keysDir,
    DATA_DIR: dataDir,
    CRON_DIR: join(dataDir, 'cron'),
    ...opts.env,
  });
  const secrets = await resolveSecrets(config);
  mustNotLog(API_KEY, secrets.hmacSecret);
  const store = createSqliteStore(databasePath(dataDir), opts.store);
  const clock = opts.clock ?? new FakeClock();
  const app = await buildApp({ config, secrets, store, clock, logger: createLogger('info', captureStream()) });
  await app.ready();
  return {
    app,
    store,
    clock,
    config,
    secrets,
    dataDir,
    keysDir,
    publicKeyPath: join(keysDir, 'public_key.pem'),
    auth: { 'x-api-key': API_KEY },
    async close() {
      await app.close();
      store.close();
    },
  };
}

export const TEST_DATA_KEY = Buffer.alloc(32, 7).toString('base64');

/** Encrypts `plaintext` the way API.md tells clients to: openssl pkeyutl, RSA-OAEP SHA-256. */
export function opensslEncrypt(plaintext: string, publicKeyPath: string, extra: string[] = []): string {
  const args = ['pkeyutl', '-encrypt', '-pubin', '-inkey', publicKeyPath, ...(extra.length ? extra : OAEP)];
  return execFileSync('openssl', args, { input: plaintext }).toString('base64');
}

export const OAEP = ['-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256'];

/** `oathtool --totp` for a hex key at a moment (ms), with optional algorithm and digits. */
export function oathtool(hexKey: string, timeMs: number, opts: { algorithm?: string; digits?: number; period?: number } = {}): string {
  const when = new Date(Math.floor(timeMs / 1000) * 1000).toISOString().replace('T', ' ').replace('.000Z', ' UTC');
  const args = [`--totp=${opts.algorithm ?? 'SHA1'}`, `--digits=${opts.digits ?? 6}`, `--time-step-size=${opts.period ?? 30}s`, `--now=${when}`, hexKey];
  const code = execFileSync('oathtool', args).toString().trim();
  mustNotLog(code);
  return code;
}

export function randomHexSeed(): string {
  const seed = randomBytes(32).toString('hex');
  mustNotLog(seed, seed.toUpperCase());
  return seed;
}

/** Sets the service seed through the real route, encrypted with openssl. */
export async function setSeed(t: TestApp, hexSeed: string): Promise<void> {
  const res = await t.app.inject({ method: 'POST', url: '/decrypt-seed', headers: t.auth, payload: { encrypted_seed: opensslEncrypt(hexSeed, t.publicKeyPath) } });
  if (res.statusCode !== 200) throw new Error(`decrypt-seed answered ${res.statusCode}: ${res.body}`);
}

export function publicKeyPem(t: TestApp): string {
  return readFileSync(t.publicKeyPath, 'utf8');
}

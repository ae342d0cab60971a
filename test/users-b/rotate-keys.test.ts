import { Database } from '../../src/db/driver.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { dataKeyFromBase64 } from '../../src/crypto/aes-gcm.js';
import { databasePath } from '../../src/db/open.js';
import { createTestApp, newDataDir, oathtool, randomHexSeed, setSeed, type TestApp } from '../helpers/app.js';
import { FakeClock } from '../helpers/clock.js';
import { captured, mustNotLog } from '../helpers/log-capture.js';
import { runEntry } from '../helpers/spawn.js';
import { enrolActive, post } from './support.js';

// Key rotation end to end: secrets sealed under K1; a restart with DATA_KEY=K2 and K1 as a
// previous key still opens them; `npm run rotate-keys` (its entry point, as a process)
// re-seals every row under K2 in one go; then K2 alone is enough.

const newKey = () => {
  const k = randomBytes(32).toString('base64');
  mustNotLog(k);
  return k;
};

function keyIds(dataDir: string): string[] {
  const db = new Database(databasePath(dataDir), { readonly: true });
  try {
    return (db.prepare('SELECT key_id FROM totp_credentials ORDER BY id').all() as { key_id: string }[]).map((r) => r.key_id);
  } finally {
    db.close();
  }
}

describe('npm run rotate-keys', () => {
  const open: TestApp[] = [];
  const start = async (dataDir: string, clock: FakeClock, env: Record<string, string>) => {
    const t = await createTestApp({ dataDir, clock, env });
    open.push(t);
    return t;
  };
  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
  });

  it('re-seals every secret under the newest key, after which the old key is not needed', async () => {
    const [k1, k2] = [newKey(), newKey()];
    const dataDir = newDataDir();
    const clock = new FakeClock();
    const rotate = (env: Record<string, string>) =>
      runEntry('src/cli/rotate-keys.ts', { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: dataDir, KEYS_DIR: newDataDir(), ...env });

    const first = await start(dataDir, clock, { DATA_KEY: k1 });
    const seed = randomHexSeed();
    await setSeed(first, seed);
    const userKey = await enrolActive(first, 'alice');
    await first.close();
    open.length = 0;
    expect(keyIds(dataDir)).toEqual([dataKeyFromBase64(k1).id, dataKeyFromBase64(k1).id]);

    // K2 is the newest key, K1 still opens what it sealed.
    const second = await start(dataDir, clock, { DATA_KEY: k2, DATA_KEYS_PREVIOUS: k1 });
    expect((await second.app.inject({ url: '/generate-2fa', headers: second.auth })).json().code).toBe(oathtool(seed, clock.now()));
    expect((await post(second, '/totp/verify', { user_id: 'alice', otp: oathtool(userKey, clock.now()) })).statusCode).toBe(200);

    // A key ring that cannot open a row changes nothing at all.
    const refused = await rotate({ DATA_KEY: k2 });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('changed nothing');
    expect(keyIds(dataDir)).toEqual([dataKeyFromBase64(k1).id, dataKeyFromBase64(k1).id]);

    // A process the operator forgot: it still runs on K1 alone.
    const stale = await createTestApp({ dataDir, clock, env: { DATA_KEY: k1 } });
    const health = async (t: TestApp) => {
      const res = await t.app.inject({ url: '/health' });
      return [res.statusCode, res.json()];
    };
    const ok = { status: 'ok', timestamp: expect.any(Number), checks: { database: 'ok', seed: 'set' } };
    expect(await health(stale)).toEqual([200, ok]);

    // Run while the service is up: it waits for the write lock, like any writer.
    const run = await rotate({ DATA_KEY: k2, DATA_KEYS_PREVIOUS: k1 });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Re-sealed 2 of 2 sealed rows');
    for (const k of [k1, k2]) expect(run.stdout + run.stderr).not.toContain(k);
    expect(keyIds(dataDir)).toEqual([dataKeyFromBase64(k2).id, dataKeyFromBase64(k2).id]);
    const auditRow = await second.store.audit.list({ event: 'keys.rotate', limit: 1 });
    expect(auditRow.map((e) => [e.success, e.reason])).toEqual([[true, 'resealed_2']]);

    // The forgotten process says so on /health (its codes can no longer be checked); the others are fine.
    expect(await health(second)).toEqual([200, ok]);
    expect(await health(stale)).toEqual([503, { ...ok, status: 'degraded', checks: { ...ok.checks, data_key: 'missing' } }]);
    expect((await stale.app.inject({ url: '/generate-2fa', headers: stale.auth })).statusCode).toBe(500);
    const said = captured.lines.filter((l) => l.includes('data keys this process does not have'));
    expect(said).toHaveLength(1); // once per change, not once per probe
    expect(JSON.parse(said[0]!)).toMatchObject({ level: 'error', missingDataKeyIds: [dataKeyFromBase64(k2).id] });
    await health(stale);
    expect(captured.lines.filter((l) => l.includes('data keys this process does not have'))).toHaveLength(1);
    await stale.close();

    const twice = await rotate({ DATA_KEY: k2, DATA_KEYS_PREVIOUS: k1 });
    expect(twice.stdout).toContain('Re-sealed 0 of 2 sealed rows');
    await second.close();
    open.length = 0;

    // K2 alone now opens everything.
    clock.advance(30_000);
    const third = await start(dataDir, clock, { DATA_KEY: k2 });
    expect((await third.app.inject({ url: '/generate-2fa', headers: third.auth })).json().code).toBe(oathtool(seed, clock.now()));
    expect((await post(third, '/totp/verify', { user_id: 'alice', otp: oathtool(userKey, clock.now()) })).statusCode).toBe(200);
  });
});

describe('a data key that cannot open what is stored', () => {
  it('the service and the worker refuse to start, naming the key id and never a key; rotate-keys refuses a missing database', async () => {
    const [k1, k2] = [newKey(), newKey()];
    const dataDir = newDataDir();
    const t = await createTestApp({ dataDir, env: { DATA_KEY: k1 } });
    await setSeed(t, randomHexSeed());
    await enrolActive(t, 'alice');
    await t.close();
    const keys = inject('keysDir');
    const apiKey = newKey();
    const env = {
      NODE_ENV: 'production',
      API_KEY: apiKey,
      DATA_KEY: k2,
      PRIVATE_KEY_PATH: join(keys, 'private_key.pem'),
      PUBLIC_KEY_PATH: join(keys, 'public_key.pem'),
      DATA_DIR: dataDir,
      KEYS_DIR: newDataDir(),
      CRON_DIR: newDataDir(),
      PORT: '0',
      HOST: '127.0.0.1',
    };
    const id1 = dataKeyFromBase64(k1).id;
    for (const [entry, who] of [['src/server.ts', 'service'], ['src/worker.ts', 'worker']] as const) {
      const run = await runEntry(entry, env);
      expect(run.code, entry).toBe(1);
      expect(run.stderr).toContain(`The ${who} cannot start. Stored secrets are sealed under data key id(s) ${id1} (2 values)`);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      for (const k of [k1, k2, apiKey]) expect(run.stdout + run.stderr).not.toContain(k);
    }
    const nowhere = await runEntry('src/cli/rotate-keys.ts', { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: join(newDataDir(), 'missing'), KEYS_DIR: newDataDir(), DATA_KEY: k2 });
    expect([nowhere.code, nowhere.stderr]).toEqual([1, expect.stringContaining('there is no database at')]);
  }, 60_000);

  it('says so, and changes nothing, when another process holds the write lock past the busy timeout', async () => {
    const [k1, k2] = [newKey(), newKey()];
    const dataDir = newDataDir();
    const first = await createTestApp({ dataDir, env: { DATA_KEY: k1 } });
    await enrolActive(first, 'alice');
    await first.close();
    const holder = new Database(databasePath(dataDir));
    holder.exec('BEGIN IMMEDIATE'); // a backup tool or another rotation, holding the lock
    try {
      const run = await runEntry('src/cli/rotate-keys.ts', { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: dataDir, KEYS_DIR: newDataDir(), DATA_KEY: k2, DATA_KEYS_PREVIOUS: k1 });
      expect(run.code).toBe(1);
      expect(run.stderr).toBe('rotate-keys changed nothing: another process held the database write lock past the busy timeout (5 s); run it again.\n');
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    expect(keyIds(dataDir)).toEqual([dataKeyFromBase64(k1).id]);
  }, 60_000);

  it('a code that cannot be checked (a secret under an unknown key) is a 500, audited, and never charged to the lockout', async () => {
    const [k1, k2] = [newKey(), newKey()];
    const dataDir = newDataDir();
    const clock = new FakeClock();
    const first = await createTestApp({ dataDir, clock, env: { DATA_KEY: k1 } });
    const secret = await enrolActive(first, 'alice');
    await first.close();
    // In process, without server.ts's start-up check: as a process still running with an old key would.
    const t = await createTestApp({ dataDir, clock, env: { DATA_KEY: k2 } });
    try {
      clock.advance(30_000);
      for (let i = 0; i < 7; i++) {
        const res = await post(t, '/totp/verify', { user_id: 'alice', otp: oathtool(secret, clock.now()) });
        expect([res.statusCode, res.json().code]).toEqual([500, 'INTERNAL_ERROR']);
      }
      expect((await t.app.inject({ url: '/status/alice', headers: t.auth })).json()).toMatchObject({ failed_attempts: 0, locked_until: null });
      const events = await t.store.audit.list({ userId: 'alice', event: 'totp.verify', limit: 10 });
      expect(events.filter((e) => e.reason === 'error')).toHaveLength(7);
    } finally {
      await t.close();
    }
  });
});

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Database } from '../../src/db/driver.js';
import { databasePath } from '../../src/db/open.js';
import { createTestApp, newDataDir, oathtool, randomHexSeed, setSeed } from '../helpers/app.js';
import { collect, ROOT, runEntry, startEntry } from '../helpers/spawn.js';
import { codeFor, enrol } from '../users/helpers.js';

// npm run backup (src/cli/backup.ts): a consistent copy of a database in use, that the service
// runs on once it is put in place of two-factor.db.

const backup = (dataDir: string, target: string) => runEntry('src/cli/backup.ts', { NODE_ENV: 'test', DATA_DIR: dataDir }, 30_000, [target]);

/** Rows per table, and the enrolments without their audit row (a torn copy would have some). */
function contents(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    return {
      check: db.pragma('integrity_check', { simple: true }),
      users: db.prepare('SELECT COUNT(*) FROM users').pluck().get() as number,
      credentials: db.prepare("SELECT COUNT(*) FROM totp_credentials WHERE kind = 'user'").pluck().get() as number,
      unaudited: db
        .prepare("SELECT COUNT(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.user_id = u.user_id AND a.event = 'enrolment.create')")
        .pluck()
        .get() as number,
    };
  } finally {
    db.close();
  }
}

describe('npm run backup', () => {
  it('copies a database the service is writing to, whole and consistent, 0600, and the service runs on the copy', async () => {
    const t = await createTestApp();
    const seed = randomHexSeed();
    await setSeed(t, seed);
    const alice = await enrol(t, 'alice@example.com');
    // Enrolments go on all through the copy, a few at every turn of the event loop.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        await Promise.all(
          Array.from({ length: 4 }, () =>
            t.app.inject({ method: 'POST', url: '/totp/register', headers: t.auth, payload: { username: `user${written++}@example.com` } }),
          ),
        );
      }
    })();
    const target = join(newDataDir(), 'copy.db');
    const run = await backup(t.dataDir, target);
    writing = false;
    await writer;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^Backed up .+ to .+copy\.db: \d+ bytes, quick_check ok\.\n$/);
    expect(statSync(target).mode & 0o777).toBe(0o600);
    const copy = contents(target);
    expect(copy.check).toBe('ok');
    // One snapshot: every user with its credential and its audit row, whatever was being written.
    expect(copy.users).toBeGreaterThanOrEqual(1);
    expect(copy.credentials).toBe(copy.users);
    expect(copy.unaudited).toBe(0);
    expect(written).toBeGreaterThan(copy.users); // the writes did go on during the copy
    await t.close();

    // Restored: the copy in place of two-factor.db, with the same DATA_KEY.
    const restored = newDataDir();
    writeFileSync(databasePath(restored), readFileSync(target));
    const r = await createTestApp({ dataDir: restored, clock: t.clock });
    expect((await r.app.inject({ url: '/generate-2fa', headers: r.auth })).json().code).toBe(oathtool(seed, r.clock.now()));
    const verified = await r.app.inject({ method: 'POST', url: '/totp/verify', headers: r.auth, payload: { username: alice.userId, otp: codeFor(r, alice) } });
    expect(verified.statusCode, verified.body).toBe(200);
    await r.close();
  }, 60_000);

  it('writes the copy to standard output with "-"', async () => {
    const t = await createTestApp();
    await enrol(t, 'bob@example.com');
    await t.close();
    const child = startEntry('src/cli/backup.ts', { NODE_ENV: 'test', DATA_DIR: t.dataDir }, ['-']);
    const chunks: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => chunks.push(d));
    const c = collect(child);
    expect(await c.exited, c.err()).toBe(0);
    expect(c.err()).toContain('to standard output');
    const file = join(newDataDir(), 'from-stdout.db');
    writeFileSync(file, Buffer.concat(chunks));
    expect(contents(file)).toEqual({ check: 'ok', users: 1, credentials: 1, unaudited: 0 });
    // The README's npm form: with -s, npm's own lines stay out of the copy.
    const viaNpm = execFileSync('npm', ['run', '-s', 'backup', '--', '-'], { cwd: ROOT, env: { ...process.env, NODE_ENV: 'test', DATA_DIR: t.dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    expect(viaNpm.equals(readFileSync(file))).toBe(true);
  }, 60_000);

  it('replaces no file, and creates no database where there is none', async () => {
    const t = await createTestApp();
    await t.close();
    const existing = join(newDataDir(), 'earlier.db');
    writeFileSync(existing, 'an earlier backup');
    const refused = await backup(t.dataDir, existing);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`backup wrote nothing: ${existing} already exists.\n`);
    expect(readFileSync(existing, 'utf8')).toBe('an earlier backup');

    const empty = join(newDataDir(), 'nothing-here');
    mkdirSync(empty);
    const target = join(newDataDir(), 'copy.db');
    const none = await backup(empty, target);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(`backup wrote nothing: there is no database at ${databasePath(empty)} (check DATA_DIR).\n`);
    expect(existsSync(databasePath(empty))).toBe(false);
    expect(existsSync(target)).toBe(false);

    // A database SQLite cannot open (a directory where the file should be): said in a line, and
    // the target created for the copy is removed again.
    const unopenable = newDataDir();
    mkdirSync(databasePath(unopenable));
    const failed = await backup(unopenable, target);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toBe('backup wrote nothing: unable to open database file (SQLITE_CANTOPEN).\n');
    expect(existsSync(target)).toBe(false);
  }, 60_000);
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Database, type Db } from '../../src/db/driver.js';
import { createGroupCommit } from '../../src/db/group-commit.js';
import { databasePath } from '../../src/db/open.js';
import { StorageUnavailableError } from '../../src/db/types.js';
import { createSqliteStore, type SqliteStore } from '../../src/db/store.js';

// The writes of one event-loop turn share one SQLite transaction (src/db/group-commit.ts), and
// a caller cannot tell: each write is whole and alone, in order, and answered after its COMMIT.

describe('group commit', () => {
  const dirs: string[] = [];
  const dbs: Db[] = [];
  const stores: SqliteStore[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
    dirs.push(dir);
    return dir;
  };
  const openDb = (file: string) => {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    dbs.push(db);
    return db;
  };
  const table = () => {
    const file = join(tempDir(), 'g.db');
    const db = openDb(file);
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
    return { db, file, other: openDb(file) };
  };
  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
    for (const d of dbs.splice(0)) if (d.open) d.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('pause() holds the batches without blocking, resume() commits them; flush() (close) does not wait', async () => {
    const { db, other } = table();
    const g = createGroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const count = other.prepare('SELECT COUNT(*) FROM t').pluck();
    g.pause();
    let answered = 0;
    const held = [g.write(() => insert.run('a', 1)), g.write(() => insert.run('b', 2))].map((p) => p.then(() => answered++));
    // Turns of the event loop go by (timers run): nothing is written, nothing answered.
    await new Promise((r) => setTimeout(r, 20));
    expect([count.get(), answered]).toEqual([0, 0]);
    g.resume();
    await Promise.all(held);
    expect([count.get(), answered]).toEqual([2, 2]);
    // The pause is counted once, with the time it held the writes (~20 ms, never less).
    const { pausedSeconds, ...counts } = g.stats();
    expect(counts).toEqual({ commits: 1, writes: 2, pauses: 1, refused: { full: 0, busy: 0 }, storageFull: false });
    expect(pausedSeconds).toBeGreaterThanOrEqual(0.015);
    // A resume without a pause counts nothing more.
    g.resume();
    expect(g.stats().pauses).toBe(1);
    // Paused again, a write queued, then flush() as close() calls it: committed at once.
    g.pause();
    const last = g.write(() => insert.run('c', 3));
    g.flush();
    await last;
    expect(count.get()).toBe(3);
  });

  it('commits the writes of one turn together, each answered with its own result after the COMMIT', async () => {
    const { db, other } = table();
    const g = createGroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const count = other.prepare('SELECT COUNT(*) FROM t').pluck();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        g.write(() => {
          insert.run(`k${i}`, i);
          return i * 10;
        }).then((r) => [r, count.get()]),
      ),
    );
    // Each promise has its own value, and when any of them settled another connection already
    // saw all 20 rows: one COMMIT, before the first answer.
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => [i * 10, 20]));
    expect(g.stats()).toMatchObject({ commits: 1, writes: 20 });
    await g.write(() => insert.run('later', 1));
    expect(g.stats()).toMatchObject({ commits: 2, writes: 21 });
  });

  it('runs the writes in order, each seeing the ones before it (a conditional claim is won once)', async () => {
    const { db } = table();
    const g = createGroupCommit(db);
    db.prepare("INSERT INTO t (k, v) VALUES ('step', 0)").run();
    const claim = db.prepare("UPDATE t SET v = ? WHERE k = 'step' AND v < ?");
    const won = await Promise.all(Array.from({ length: 10 }, () => g.write(() => claim.run(7, 7).changes === 1)));
    expect(won).toEqual([true, ...Array(9).fill(false)]);
    expect(g.stats().commits).toBe(1);
  });

  it('rolls a write that throws back alone: its promise rejects, the others commit', async () => {
    const { db, other } = table();
    const g = createGroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const outcomes = await Promise.allSettled([
      g.write(() => insert.run('a', 1)),
      g.write(() => {
        insert.run('b', 2); // written, then undone with the savepoint
        throw new Error('refused half-way');
      }),
      g.write(() => insert.run('a', 3)), // UNIQUE constraint: this statement fails
      g.write(() => insert.run('c', 4)),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason.message).toBe('refused half-way');
    expect((outcomes[2] as PromiseRejectedResult).reason.code).toBe('SQLITE_CONSTRAINT_PRIMARYKEY');
    expect(other.prepare('SELECT k, v FROM t ORDER BY k').all()).toEqual([
      { k: 'a', v: 1 },
      { k: 'c', v: 4 },
    ]);
    expect(db.inTransaction).toBe(false);
    expect(g.stats()).toMatchObject({ commits: 1, writes: 2 }); // the writes that were kept
  });

  it('answers every write of a batch with the error when its COMMIT fails, and keeps none of them', async () => {
    const { db, other } = table();
    // A deferred foreign key is checked at COMMIT: the statement succeeds, the COMMIT fails.
    db.exec('CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)');
    const g = createGroupCommit(db);
    const outcomes = await Promise.allSettled([
      g.write(() => db.prepare("INSERT INTO t (k, v) VALUES ('x', 1)").run()),
      g.write(() => db.prepare('INSERT INTO child (p) VALUES (42)').run()),
      g.write(() => db.prepare("INSERT INTO t (k, v) VALUES ('y', 2)").run()),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const o of outcomes) expect((o as PromiseRejectedResult).reason.code).toBe('SQLITE_CONSTRAINT_FOREIGNKEY');
    expect(other.prepare('SELECT COUNT(*) FROM t').pluck().get()).toBe(0);
    expect(db.inTransaction).toBe(false);
    // The committer goes on working.
    await g.write(() => db.prepare("INSERT INTO t (k, v) VALUES ('z', 3)").run());
    expect(other.prepare('SELECT k FROM t').pluck().all()).toEqual(['z']);
  });

  it('when SQLite abandons the transaction part-way, rejects what ran in it and runs the rest in a new one', async () => {
    const { db, other } = table();
    const g = createGroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    // What SQLite does on SQLITE_FULL or an I/O error: the whole transaction is rolled back.
    const rollback = db.prepare('ROLLBACK');
    const outcomes = await Promise.allSettled([
      g.write(() => insert.run('before', 1)),
      g.write(() => {
        insert.run('failing', 2);
        rollback.run();
      }),
      g.write(() => insert.run('after', 3)),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
    expect((outcomes[0] as PromiseRejectedResult).reason.message).toMatch(/rolled back/);
    expect(other.prepare('SELECT k FROM t').pluck().all()).toEqual(['after']);
    expect(db.inTransaction).toBe(false);
  });

  it('refuses a lone write whose transaction SQLite abandoned, even when the write itself returned', async () => {
    const { db, other } = table();
    const g = createGroupCommit(db);
    const rollback = db.prepare('ROLLBACK');
    await expect(
      g.write(() => {
        db.prepare("INSERT INTO t (k, v) VALUES ('gone', 1)").run();
        rollback.run(); // as SQLite does on SQLITE_FULL or an I/O error, caught by the write
        return 'answered';
      }),
    ).rejects.toThrow(/rolled back/);
    expect(other.prepare('SELECT COUNT(*) FROM t').pluck().get()).toBe(0);
    expect(g.stats()).toMatchObject({ commits: 0, writes: 0 });
  });

  it("waits for another process's write lock on timers, in order, and commits once it is let go", async () => {
    const { db, other } = table();
    db.pragma('busy_timeout = 5');
    const g = createGroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    other.exec('BEGIN IMMEDIATE');
    const first = g.write(() => insert.run('a', 1));
    await new Promise((resolve) => setTimeout(resolve, 30));
    const second = g.write(() => insert.run('b', 2)); // queued behind the first, not ahead of it
    await new Promise((resolve) => setTimeout(resolve, 30));
    other.exec('ROLLBACK');
    await Promise.all([first, second]);
    expect(other.prepare('SELECT k FROM t ORDER BY rowid').pluck().all()).toEqual(['a', 'b']);
    expect(g.stats()).toMatchObject({ refused: { full: 0, busy: 0 } });
  });

  it('refuses writes the disk has no room for (SQLITE_FULL) as storage full, keeps none of them, and clears at the next commit', async () => {
    const { db, other } = table();
    const g = createGroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    await g.write(() => insert.run('kept', 1));
    // SQLite's own SQLITE_FULL, from a database not allowed to grow (a full disk gives the same
    // code; test/http/storage-full.test.ts fills a real one).
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    const big = db.prepare('INSERT INTO t (k, v) VALUES (?, length(zeroblob(?)))');
    const grow = (k: string) => () => db.prepare('INSERT INTO t (k, v) VALUES (?, 0)').run(k + 'x'.repeat(20_000));
    const outcomes = await Promise.allSettled([g.write(grow('a')), g.write(grow('b'))]);
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(StorageUnavailableError);
      expect((o as PromiseRejectedResult).reason).toMatchObject({ reason: 'full' });
    }
    expect(g.stats()).toMatchObject({ refused: { full: 2, busy: 0 }, storageFull: true });
    expect(other.prepare('SELECT k FROM t').pluck().all()).toEqual(['kept']);
    // Any other error is still the write's own.
    await expect(g.write(() => insert.run('kept', 2))).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
    expect(g.stats().storageFull).toBe(true);
    db.pragma('max_page_count = 1073741823');
    await g.write(() => big.run('room again', 10));
    expect(g.stats()).toMatchObject({ refused: { full: 2, busy: 0 }, storageFull: false });
    expect(other.prepare('SELECT k FROM t ORDER BY k').pluck().all()).toEqual(['kept', 'room again']);
  });

  it('runs a write at once inside a transaction the caller opened', async () => {
    const { db, other } = table();
    const g = createGroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const outer = db.transaction(() => [g.write(() => insert.run('a', 1)), g.write(() => insert.run('a', 2))]);
    const [ok, dup] = outer.immediate();
    await expect(ok).resolves.toMatchObject({ changes: 1 });
    await expect(dup).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
    expect(other.prepare('SELECT k, v FROM t').all()).toEqual([{ k: 'a', v: 1 }]);
    expect(g.stats().commits).toBe(0);
  });

  it('refuses a write met by a busy database (another process holding the write lock) as storage busy', async () => {
    const { db, other } = table();
    db.pragma('busy_timeout = 5');
    const g = createGroupCommit(db, { lockWaitMs: 100 });
    other.exec('BEGIN IMMEDIATE');
    const refused = g.write(() => db.prepare("INSERT INTO t (k, v) VALUES ('a', 1)").run());
    await expect(refused).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(refused).rejects.toMatchObject({ reason: 'busy', cause: { code: 'SQLITE_BUSY' } });
    expect(g.stats()).toMatchObject({ refused: { full: 0, busy: 1 }, storageFull: false });
    other.exec('ROLLBACK');
    await g.write(() => db.prepare("INSERT INTO t (k, v) VALUES ('b', 1)").run());
    expect(other.prepare('SELECT k FROM t').pluck().all()).toEqual(['b']);
  });

  it('keeps the store answering as before: of racing verifications of one code exactly one wins, and the lockout counts each', async () => {
    const store = createSqliteStore(databasePath(tempDir()));
    stores.push(store);
    const now = 1_795_442_700_000;
    const ev = { userId: 'alice', event: 'totp.enrol', success: true, ip: '127.0.0.1', at: now };
    const enrolled = await store.userCredentials.enrol('alice', { secretBlob: Buffer.alloc(40), keyId: 'k', algorithm: 'SHA1', digits: 6, period: 30 }, now, ev);
    expect(enrolled.outcome).toBe('created');
    const policy = { threshold: 100, baseMs: 60_000, maxMs: 3_600_000 };
    const events = {
      verification: (success: boolean, reason: string | null) => ({ ...ev, event: 'totp.verify', success, reason }),
      lockout: { ...ev, event: 'user.lockout', success: true },
      activation: { ...ev, event: 'enrolment.activate' },
    };
    const before = store.commit.stats().commits;
    // Ten attempts with the same (good) step, then five with a wrong code, all in one turn.
    const attempts = await Promise.all([
      ...Array.from({ length: 10 }, () => store.userCredentials.verifyAttempt('alice', now, policy, true, events, () => 59_830_000)),
      ...Array.from({ length: 5 }, () => store.userCredentials.verifyAttempt('alice', now, policy, true, events, () => null)),
    ]);
    expect(attempts.map((a) => a.outcome)).toEqual(['success', ...Array(9).fill('replay'), ...Array(5).fill('invalid_code')]);
    expect(store.commit.stats().commits - before).toBe(1);
    // The success reset the count; the nine replays after it and the five wrong codes count.
    expect((await store.users.get('alice'))?.failedAttempts).toBe(14);
    const audit = await store.audit.list({ userId: 'alice', event: 'totp.verify', limit: 100 });
    expect(audit).toHaveLength(15);
  });

  it('commits what is still queued when the store closes', async () => {
    const dir = tempDir();
    const store = createSqliteStore(databasePath(dir));
    const pending = store.audit.append({ userId: 'u', event: 'late.event', success: true, ip: null, at: 1 });
    store.close();
    await pending;
    const reopened = createSqliteStore(databasePath(dir));
    stores.push(reopened);
    expect((await reopened.audit.list({ event: 'late.event', limit: 10 })).length).toBe(1);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCheckpointer, walBytes } from '../../src/db/checkpointer.js';
import { databasePath } from '../../src/db/open.js';
import { createSqliteStore, type SqliteStore } from '../../src/db/store.js';

// WAL checkpoints run on a background thread (src/db/checkpointer.ts), not inside a request's
// commit, and the WAL stays bounded.

const event = (i: number) => ({ userId: `u${i % 50}`, event: 'test.event', success: true, ip: '127.0.0.1', at: i });

describe('background WAL checkpoints', () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  const open = (opts?: Parameters<typeof createSqliteStore>[1]) => {
    const dir = mkdtempSync(join(tmpdir(), 'checkpointer-'));
    dirs.push(dir);
    const store = createSqliteStore(databasePath(dir), opts);
    stores.push(store);
    return { store, file: databasePath(dir) };
  };
  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('turns the automatic checkpoint off on the serving connection and checkpoints from the thread', async () => {
    const { store, file } = open();
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    await store.checkpointer?.stop();
    // A thread that only checkpoints when told to, with a bound this test never reaches.
    const manual = startCheckpointer(store.db, file, { intervalMs: 3_600_000, maxWalBytes: 2 ** 40 });
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    for (let i = 0; i < 2000; i++) await store.audit.append(event(i));
    // No commit checkpointed: each one appended to the WAL.
    const grown = walBytes(file);
    await store.audit.append(event(1));
    expect(walBytes(file)).toBeGreaterThan(grown);
    // Once the thread has backfilled the database file, the next writer starts the WAL over.
    await manual.tick();
    const size = walBytes(file);
    for (let i = 0; i < 3; i++) await store.audit.append(event(i));
    expect(walBytes(file)).toBe(size);
    expect((await store.audit.list({ limit: 1 }))[0]?.event).toBe('test.event');
    await manual.stop();
  });

  it('truncates a WAL that grew past the bound', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'checkpointer-'));
    dirs.push(dir);
    const file = databasePath(dir);
    const store = createSqliteStore(file);
    stores.push(store);
    await store.checkpointer?.stop();
    const small = startCheckpointer(store.db, file, { intervalMs: 60_000, maxWalBytes: 64 * 1024 });
    for (let i = 0; i < 500; i++) await store.audit.append(event(i));
    expect(walBytes(file)).toBeGreaterThan(64 * 1024);
    await small.tick();
    expect(walBytes(file)).toBe(0);
    await small.stop();
  });

  it('with the group committer, starts a WAL past the bound over from its top instead of truncating it', async () => {
    const { store, file } = open();
    await store.checkpointer?.stop();
    // One commit per append here: ~17 KB of WAL each, so 200 of them pass the bound but not 4 × it.
    const bound = 2 * 2 ** 20;
    let pauses = 0;
    const writer = { pause: () => (pauses++, store.commit.pause()), resume: () => store.commit.resume() };
    const cp = startCheckpointer(store.db, file, { intervalMs: 3_600_000, maxWalBytes: bound, writer });
    for (let i = 0; i < 200; i++) await store.audit.append(event(i));
    const grown = walBytes(file);
    expect(grown).toBeGreaterThan(bound);
    expect(grown).toBeLessThan(4 * bound);
    // tick() resolves once the committer has been held, every frame copied back and the
    // committer resumed. The file keeps its size (no truncation to grow back from)...
    await cp.tick();
    expect(pauses).toBe(1);
    expect(store.commit.stats().pauses).toBe(1); // what /metrics reports
    // The thread flushed the database file before it asked (through SQLite's own descriptor),
    // so the pause had only the last frames to copy back and flush.
    if (process.platform === 'linux') expect(cp.stats()).toEqual({ flushedFirst: 1 });
    expect(walBytes(file)).toBe(grown);
    // ...and the next writes go to its top: fewer writes than before fit without growing it.
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.audit.append(event(1000 + i))));
    for (let i = 0; i < 100; i++) await store.audit.append(event(2000 + i));
    expect(walBytes(file)).toBe(grown);
    expect(store.db.prepare("SELECT COUNT(*) FROM audit_events WHERE event = 'test.event'").pluck().get()).toBe(400);
    // The file is still past the bound, but the frames in use are not: no writer is held again.
    await cp.tick();
    expect(pauses).toBe(1);
    await cp.stop();
  });

  it('a WAL past 4 × the bound anyway (another process still reading an old snapshot, say) is truncated, as without a committer', async () => {
    const { store, file } = open();
    await store.checkpointer?.stop();
    const cp = startCheckpointer(store.db, file, { intervalMs: 3_600_000, maxWalBytes: 16 * 1024, writer: store.commit });
    for (let i = 0; i < 500; i++) await store.audit.append(event(i));
    expect(walBytes(file)).toBeGreaterThan(4 * 16 * 1024);
    await cp.tick();
    expect(walBytes(file)).toBe(0);
    expect(store.db.prepare('SELECT COUNT(*) FROM audit_events').pluck().get()).toBeGreaterThanOrEqual(500);
    await cp.stop();
  });

  it('hands checkpoints back to SQLite when the thread stops', async () => {
    const { store } = open();
    await store.checkpointer?.stop();
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });

  it('can be turned off (SQLite checkpoints inside commits, as before)', () => {
    const { store } = open({ backgroundCheckpoints: false });
    expect(store.checkpointer).toBeNull();
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });
});

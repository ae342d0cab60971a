import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Database } from '../../src/db/driver.js';
import { openDatabase } from '../../src/db/open.js';
import { walHeaderProbe } from '../../src/db/wal-header.js';

// The probe that lets the service seed's cached row skip `PRAGMA data_version` (issue 5): equal
// reads must mean "nobody committed", so every commit, from any connection, must change it.

const file = () => join(mkdtempSync(join(tmpdir(), 'tfa-wal-')), 'two-factor.db');
const snapshot = (probe: ReturnType<typeof walHeaderProbe>) => {
  const h = probe.read();
  return h && Buffer.from(h);
};

describe('the WAL-index header probe', () => {
  it('reads the same header while nothing is committed, and another one after any commit', () => {
    const path = file();
    const db = openDatabase(path);
    db.exec('CREATE TABLE t (x INTEGER)');
    const probe = walHeaderProbe(db);
    const first = snapshot(probe);
    expect(first).not.toBeNull();
    expect(first!.length).toBe(48);

    // Reads, by this connection or another one, change nothing.
    db.prepare('SELECT COUNT(*) FROM t').get();
    const other = new Database(path);
    other.prepare('SELECT COUNT(*) FROM t').get();
    expect(snapshot(probe)).toEqual(first);

    // A commit by another connection (as another process's would be: the same -shm file).
    other.prepare('INSERT INTO t VALUES (1)').run();
    const second = snapshot(probe);
    expect(second).not.toEqual(first);
    expect(snapshot(probe)).toEqual(second);

    // This connection's own commit.
    db.prepare('INSERT INTO t VALUES (2)').run();
    const third = snapshot(probe);
    expect(third).not.toEqual(second);

    // Two commits in a row, then the WAL started over by a checkpoint and another commit: each moves it.
    const seen = new Set([first, second, third].map((b) => b!.toString('hex')));
    for (let i = 0; i < 5; i++) {
      if (i === 3) other.pragma('wal_checkpoint(TRUNCATE)');
      other.prepare('INSERT INTO t VALUES (?)').run(i);
      const h = snapshot(probe)!.toString('hex');
      expect(seen.has(h)).toBe(false);
      seen.add(h);
    }
    other.close();
    db.close();
  });

  it('answers null where it cannot tell (the caller then asks SQLite): in memory, or once its connection is closed', () => {
    expect(walHeaderProbe(openDatabase(':memory:')).read()).toBeNull();
    const db = openDatabase(file());
    const probe = walHeaderProbe(db);
    expect(probe.read()).not.toBeNull();
    db.close();
    expect(probe.read()).toBeNull();
  });
});

import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Database, type Db } from './driver.js';

export type { Db };

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export function databasePath(dataDir: string): string {
  return join(dataDir, 'two-factor.db');
}

/** Opens (creating if needed) the SQLite database in WAL mode and applies pending migrations. */
export function openDatabase(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // Two processes (API and cron worker) share the file: wait for a writer instead of failing.
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

export function migrate(db: Db, dir = MIGRATIONS_DIR): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const files = readdirSync(dir)
    .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
    .sort();
  // A database migrated by a newer build (a rollback to an older image) has tables this build
  // does not know how to keep consistent: refuse it rather than write to it.
  const known = new Set(files.map((f) => Number(f.slice(0, 3))));
  const newer = (db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as { version: number; name: string }[]).filter((m) => !known.has(m.version));
  if (newer.length > 0) {
    throw new Error(
      `the database was migrated by a newer version of the service (${newer.map((m) => m.name).join(', ')}): run that version, or restore a backup taken before the upgrade`,
    );
  }
  let applied = 0;
  for (const file of files) {
    const version = Number(file.slice(0, 3));
    // IMMEDIATE: when two processes start at once, one applies and the other then sees it applied.
    const apply = db.transaction(() => {
      const done = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(version);
      if (done) return false;
      db.exec(readFileSync(join(dir, file), 'utf8'));
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(version, file, Date.now());
      return true;
    });
    if (apply.immediate()) applied++;
  }
  return applied;
}

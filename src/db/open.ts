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
  let db: Db | undefined;
  try {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    // Two processes (API and cron worker) share the file: wait for a writer instead of failing.
    db.pragma('busy_timeout = 5000');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
    return db;
  } catch (error) {
    db?.close();
    throw openFailure(file, error);
  }
}

/**
 * SQLite's and the system's own words ("unable to open database file") name neither the file
 * nor what to look at; on a first deployment (a volume owned by another uid, a full disk) that
 * is the whole question. Errors of ours (a database from a newer version) already say it all.
 */
function openFailure(file: string, error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (!(error instanceof Error) || typeof code !== 'string') return error;
  const dir = dirname(file);
  const uid = process.getuid?.();
  const hint =
    /^SQLITE_(CANTOPEN|READONLY|PERM|AUTH)/.test(code) || ['EACCES', 'EPERM', 'EROFS'].includes(code)
      ? `check that ${dir} exists and that this process${uid === undefined ? '' : ` (uid ${uid})`} can write to it and to the files in it`
      : /^SQLITE_(BUSY|LOCKED)/.test(code)
        ? 'another process held its write lock past the busy timeout (a migration, a key rotation, a backup tool): start again once it is done'
        : /^SQLITE_(FULL|IOERR)/.test(code) || code === 'ENOSPC'
          ? `check that the disk holding ${dir} has free space and is not read-only`
          : /^SQLITE_(NOTADB|CORRUPT)/.test(code)
            ? 'the file is not a database of this service, or it is damaged: restore a backup'
            : ['ENOTDIR', 'ENOENT', 'EEXIST'].includes(code)
              ? `check DATA_DIR: ${dir} must be a directory`
              : '';
  return new Error(`the database ${file} could not be opened: ${error.message} (${code})${hint ? `; ${hint}` : ''}`, { cause: error });
}

export function migrate(db: Db, dir = MIGRATIONS_DIR): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const files = readdirSync(dir)
    .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
    .sort();
  // A database migrated by a newer build (a rollback to an older image) has tables this build
  // does not know how to keep consistent: refuse it rather than write to it.
  const known = new Set(files.map((f) => Number(f.slice(0, 3))));
  const recorded = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as { version: number; name: string }[];
  const newer = recorded.filter((m) => !known.has(m.version));
  if (newer.length > 0) {
    throw new Error(
      `the database was migrated by a newer version of the service (${newer.map((m) => m.name).join(', ')}): run that version, or restore a backup taken before the upgrade`,
    );
  }
  // Only a migration still to apply takes the write lock: a start on an up-to-date database
  // (every start but an upgrade's) needs none, so it is not held up by another process's write
  // (a key rotation, a backup tool, the other service process in the middle of its own).
  const done = new Set(recorded.map((m) => m.version));
  let applied = 0;
  for (const file of files) {
    const version = Number(file.slice(0, 3));
    if (done.has(version)) continue;
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

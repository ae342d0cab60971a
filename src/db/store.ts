import { startCheckpointer, type Checkpointer } from './checkpointer.js';
import { createGroupCommit, SERVING_BUSY_TIMEOUT_MS, type GroupCommit } from './group-commit.js';
import { openDatabase, type Db } from './open.js';
import { createAuditRepository } from './repositories/audit.js';
import { createCredentialRepository } from './repositories/credentials.js';
import { createSignatureRepository } from './repositories/signatures.js';
import { createUserRepository } from './repositories/users.js';
import { createUserCredentialRepository } from './repositories/user-credentials.js';
import { createOneTimeCodeRepository } from './repositories/one-time-codes.js';
import { createAnalyticsRepository } from './repositories/analytics.js';
import { createBackupCodeRepository } from './repositories/backup-codes.js';
import { createChallengeRepository } from './repositories/challenges.js';
import { createRecoveryRepository } from './repositories/recovery.js';
import { createSealedValueRepository } from './repositories/sealed-values.js';
import { createUserConfigRepository } from './repositories/user-configs.js';
import type { Store } from './types.js';

export type SqliteStore = Store & { db: Db; checkpointer: Checkpointer | null; commit: GroupCommit };

export type SqliteStoreOptions = {
  /** WAL checkpoints on a background thread (checkpointer.ts) instead of inside commits; default on for a file. */
  backgroundCheckpoints?: boolean;
  /** How long a write waits for another process's write lock before a 503 (group-commit.ts); 5000 ms. */
  lockWaitMs?: number;
};

/** The SQLite adapter of the storage interfaces, over one better-sqlite3 connection. */
export function createSqliteStore(file: string, opts: SqliteStoreOptions = {}): SqliteStore {
  const db = openDatabase(file);
  // SQLite's busy handler sleeps on this thread, the event loop's: waiting 5 s there for another
  // process's write lock (a key rotation re-sealing every secret, a second API process) froze
  // every request, /health included. The group committer waits for that lock on timers instead
  // (lockWaitMs), so this connection's own wait is kept to a blip.
  db.pragma(`busy_timeout = ${SERVING_BUSY_TIMEOUT_MS}`);
  // Every write of every repository goes through one group committer (group-commit.ts), which
  // the checkpointer holds for a moment when the WAL is to start over.
  const commit = createGroupCommit(db, { lockWaitMs: opts.lockWaitMs });
  const checkpointer = file !== ':memory:' && opts.backgroundCheckpoints !== false ? startCheckpointer(db, file, { writer: commit }) : null;
  const ping = db.prepare('SELECT 1 AS ok');
  const probe = db.prepare('INSERT INTO write_probe (id, at, pad) VALUES (1, ?, randomblob(65536)) ON CONFLICT (id) DO UPDATE SET at = excluded.at, pad = excluded.pad');
  let probedAt = -Infinity;
  return {
    db,
    checkpointer,
    commit,
    credentials: createCredentialRepository(db, commit),
    signatures: createSignatureRepository(db, commit),
    audit: createAuditRepository(db, commit),
    users: createUserRepository(db, commit),
    userCredentials: createUserCredentialRepository(db, commit),
    oneTimeCodes: createOneTimeCodeRepository(db, commit),
    analytics: createAnalyticsRepository(db),
    backupCodes: createBackupCodeRepository(db, commit),
    challenges: createChallengeRepository(db, commit),
    recovery: createRecoveryRepository(db, commit),
    userConfigs: createUserConfigRepository(db, commit),
    sealedValues: createSealedValueRepository(db, commit),
    writeStats: () => commit.stats(),
    async ping() {
      try {
        return (ping.get() as { ok: number }).ok === 1;
      } catch {
        return false;
      }
    },
    async storageFull() {
      if (!commit.stats().storageFull) return false;
      // A public route calls this: one probe a second at most, whatever the rate of calls.
      if (performance.now() - probedAt < 1000) return true;
      probedAt = performance.now();
      try {
        await commit.write(() => probe.run(Date.now()));
        return false;
      } catch {
        return commit.stats().storageFull;
      }
    },
    close() {
      // The thread makes a last checkpoint and closes its connection on its own time; the
      // process may exit first, which loses nothing (the WAL is replayed at the next open).
      void checkpointer?.stop();
      if (db.open) {
        commit.flush(); // writes still queued are committed (and answered) before the connection goes
        db.close();
      }
    },
  };
}

import { openDatabase, type Db } from './open.js';
import { createAuditRepository } from './repositories/audit.js';
import { createCredentialRepository } from './repositories/credentials.js';
import { createSignatureRepository } from './repositories/signatures.js';
import { createUserRepository } from './repositories/users.js';
import type { Store } from './types.js';

export type SqliteStore = Store & { db: Db };

/** The SQLite adapter of the storage interfaces, over one better-sqlite3 connection. */
export function createSqliteStore(file: string): SqliteStore {
  const db = openDatabase(file);
  const ping = db.prepare('SELECT 1 AS ok');
  return {
    db,
    credentials: createCredentialRepository(db),
    signatures: createSignatureRepository(db),
    audit: createAuditRepository(db),
    users: createUserRepository(db),
    async ping() {
      try {
        return (ping.get() as { ok: number }).ok === 1;
      } catch {
        return false;
      }
    },
    close() {
      if (db.open) db.close();
    },
  };
}

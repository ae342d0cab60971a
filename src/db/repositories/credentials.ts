import type { GroupCommit } from '../group-commit.js';
import type { Db } from '../open.js';
import type { AuditInput, CredentialRepository, CredentialRow } from '../types.js';
import { auditWriter } from './audit.js';
import { walHeaderProbe } from '../wal-header.js';

type Raw = {
  id: number;
  kind: 'service' | 'user';
  user_id: string | null;
  secret_blob: Buffer;
  key_id: string;
  algorithm: CredentialRow['algorithm'];
  digits: number;
  period: number;
  status: CredentialRow['status'];
  last_step: number | null;
  created_at: number;
  updated_at: number;
};

export const CREDENTIAL_COLUMNS =
  'id, kind, user_id, secret_blob, key_id, algorithm, digits, period, status, last_step, created_at, updated_at';

export function toCredential(r: Raw): CredentialRow {
  return {
    id: r.id,
    kind: r.kind,
    userId: r.user_id,
    secretBlob: r.secret_blob,
    keyId: r.key_id,
    algorithm: r.algorithm,
    digits: r.digits,
    period: r.period,
    status: r.status,
    lastStep: r.last_step,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

// The service seed's row is read by every RPA request (GET /generate-2fa, /otp, POST
// /verify-2fa...) but changes only when a seed is set or re-sealed. It is kept in memory and
// re-read when the database may have changed it: `PRAGMA data_version` moves whenever another
// connection (the cron worker, a second API process, the key rotation CLI) commits, and this
// connection's own writes to the row bump `serviceRowGeneration` (below, and sealed-values.ts).
// issue 5: the pragma is cheaper than reading the row on every request, and it is itself
// skipped while the WAL-index header is as it was before the last one (wal-header.ts): then
// nobody has committed since, so a seed set by another process is still seen at once.
const serviceRowGeneration = new WeakMap<Db, number>();
export function touchServiceRow(db: Db): void {
  serviceRowGeneration.set(db, (serviceRowGeneration.get(db) ?? 0) + 1);
}

export function createCredentialRepository(db: Db, commit: GroupCommit): CredentialRepository {
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  const wal = walHeaderProbe(db);
  let cache: { version: number; generation: number; header: Buffer | null; row: CredentialRow | null } | null = null;
  const audit = auditWriter(db);
  const getService = db.prepare(`SELECT ${CREDENTIAL_COLUMNS} FROM totp_credentials WHERE kind = 'service'`);
  const deleteService = db.prepare(`DELETE FROM totp_credentials WHERE kind = 'service'`);
  const insert = db.prepare(
    `INSERT INTO totp_credentials (kind, user_id, secret_blob, key_id, algorithm, digits, period, status, last_step, created_at, updated_at)
     VALUES (@kind, @userId, @secretBlob, @keyId, @algorithm, @digits, @period, @status, @lastStep, @now, @now)`,
  );
  const claim = db.prepare(
    'UPDATE totp_credentials SET last_step = ?, updated_at = ? WHERE id = ? AND (last_step IS NULL OR last_step < ?)',
  );
  const listSealed = db.prepare('SELECT id, kind, user_id, secret_blob, key_id FROM totp_credentials ORDER BY id');
  const updateSealed = db.prepare('UPDATE totp_credentials SET secret_blob = ?, key_id = ? WHERE id = ?');

  type Replace = Parameters<CredentialRepository['replaceService']>;
  const replaceService = (input: Replace[0], now: number, event: AuditInput, sameSecret: Replace[3]) => {
    touchServiceRow(db);
    const old = getService.get() as Raw | undefined;
    const lastStep = old && sameSecret(toCredential(old)) ? old.last_step : null;
    deleteService.run();
    insert.run({ ...input, kind: 'service', userId: null, lastStep, now });
    audit(event);
  };
  const claimTx = (id: number, step: number, now: number, event?: (won: boolean) => AuditInput) => {
    const won = claim.run(step, now, id, step).changes === 1;
    if (won) touchServiceRow(db); // last_step moved (user credentials use user-credentials.ts)
    if (event) audit(event(won));
    return won;
  };
  const resealTx = (rows: { id: number; secretBlob: Buffer; keyId: string }[]) => {
    touchServiceRow(db);
    let changed = 0;
    for (const r of rows) changed += updateSealed.run(r.secretBlob, r.keyId, r.id).changes;
    return changed;
  };

  return {
    async getService() {
      const generation = serviceRowGeneration.get(db) ?? 0;
      const now = wal.read();
      if (now && cache?.header && cache.generation === generation && now.equals(cache.header)) return cache.row;
      // Read before the pragma: a later header equal to this one means no commit since, so none
      // since the pragma either.
      const header = now && Buffer.from(now);
      const version = dataVersion.get() as number;
      if (cache && cache.version === version && cache.generation === generation) {
        cache.header = header;
        return cache.row;
      }
      const r = getService.get() as Raw | undefined;
      const row = r ? Object.freeze(toCredential(r)) : null;
      cache = { version, generation, header, row };
      return row;
    },
    async replaceService(input, now, event, sameSecret) {
      return commit.write(() => replaceService(input, now, event, sameSecret));
    },
    async claimStep(id, step, now, event) {
      return commit.write(() => claimTx(id, step, now, event));
    },
    async listSealed() {
      return (listSealed.all() as Raw[]).map((r) => ({
        id: r.id,
        kind: r.kind,
        userId: r.user_id,
        secretBlob: r.secret_blob,
        keyId: r.key_id,
      }));
    },
    async reseal(rows) {
      return commit.write(() => resealTx(rows));
    },
  };
}

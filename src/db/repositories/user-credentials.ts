import type { GroupCommit } from '../group-commit.js';
import type { Db } from '../open.js';
import type { AuditInput, CredentialRow, EnrolOutcome, LockoutPolicy, NewCredential, TotpAttemptEvents, TotpAttemptOutcome, UserCredentialRepository } from '../types.js';
import { lockoutOps, userEnsurer } from './users.js';
import { auditWriter } from './audit.js';
import { CREDENTIAL_COLUMNS, toCredential } from './credentials.js';

type Raw = Parameters<typeof toCredential>[0];

export function createUserCredentialRepository(db: Db, commit: GroupCommit): UserCredentialRepository {
  const audit = auditWriter(db);
  const get = db.prepare(`SELECT ${CREDENTIAL_COLUMNS} FROM totp_credentials WHERE kind = 'user' AND user_id = ?`);
  const ensureUser = userEnsurer(db);
  const deletePending = db.prepare(`DELETE FROM totp_credentials WHERE kind = 'user' AND user_id = ? AND status = 'pending'`);
  const insert = db.prepare(
    `INSERT INTO totp_credentials (kind, user_id, secret_blob, key_id, algorithm, digits, period, status, last_step, created_at, updated_at)
     VALUES ('user', @userId, @secretBlob, @keyId, @algorithm, @digits, @period, 'pending', NULL, @now, @now)`,
  );
  // RFC 6238 section 5.2: a step is accepted once. The condition makes the claim a database
  // guarantee: of two racing claims (two processes included) exactly one changes the row.
  const claim = db.prepare(
    'UPDATE totp_credentials SET last_step = ?, updated_at = ? WHERE id = ? AND (last_step IS NULL OR last_step < ?)',
  );
  const activate = db.prepare(`UPDATE totp_credentials SET status = 'active', updated_at = ? WHERE id = ? AND status = 'pending'`);
  const enableUser = db.prepare('UPDATE users SET enabled = 1, updated_at = ? WHERE user_id = ?');

  const read = (userId: string): CredentialRow | null => {
    const r = get.get(userId) as Raw | undefined;
    return r ? toCredential(r) : null;
  };

  const enrolTx = (userId: string, input: Omit<NewCredential, 'status'>, now: number, event: AuditInput): EnrolOutcome => {
    ensureUser(userId, now);
    const existing = read(userId);
    if (existing?.status === 'active') {
      audit({ ...event, success: false, reason: 'already_enrolled' });
      return { outcome: 'already_active' };
    }
    // A pending enrolment is replaced: the secret shown before was never confirmed.
    deletePending.run(userId);
    insert.run({ userId, ...input, now });
    audit(event);
    return { outcome: 'created', credential: read(userId) as CredentialRow };
  };

  // A first accepted code confirms a pending enrolment: active, 2FA on for the user the
  // activation event names, audited, in the caller's transaction.
  const activateIfPending = (credentialId: number, now: number, activation: AuditInput): boolean => {
    if (activate.run(now, credentialId).changes !== 1) return false;
    enableUser.run(now, activation.userId);
    audit(activation);
    return true;
  };

  const claimTx = (id: number, step: number, now: number, activation: AuditInput) => {
    const won = claim.run(step, now, id, step).changes === 1;
    return { won, activated: won && activateIfPending(id, now, activation) };
  };

  const lockout = lockoutOps(db);
  // One transaction instead of three (charge, claim, settle), two reads of the user and of the
  // credential instead of four, and one write of the user row (issue 5: POST /totp/verify cost
  // ~600 µs of CPU). The code is checked inside it, so the charge and its settlement are one
  // write: no other attempt runs in between.
  const attemptTx = (userId: string, now: number, policy: LockoutPolicy, allowPending: boolean, events: TotpAttemptEvents, decide: (c: CredentialRow) => number | null): TotpAttemptOutcome => {
    const user = lockout.read(userId);
    if (!user) return { outcome: 'unknown_user' };
    const cred = read(userId);
    if (!cred || (cred.status === 'pending' && !allowPending)) return { outcome: 'not_enrolled' };
    const refused = lockout.refusal(user, now, policy, { refused: events.verification(false, 'locked'), lockout: events.lockout });
    if (refused) return refused;
    const fail = (reason: string) => {
      audit(events.verification(false, reason));
      lockout.chargeAndSettle(user, false, now, policy, events.lockout);
    };
    let step: number | null;
    try {
      step = decide(cred);
    } catch (error) {
      // The service could not check the code (a secret sealed under a data key this process
      // does not hold): audited, but not charged, so a fault of ours never locks a user out.
      audit(events.verification(false, 'error'));
      return { outcome: 'error', error };
    }
    if (step === null) {
      fail('invalid_code');
      return { outcome: 'invalid_code' };
    }
    const won = claim.run(step, now, cred.id, step).changes === 1;
    if (!won) {
      fail('replay');
      return { outcome: 'replay' };
    }
    audit(events.verification(true, null));
    const activated = activateIfPending(cred.id, now, events.activation);
    lockout.chargeAndSettle(user, true, now, policy, events.lockout);
    return { outcome: 'success', activated };
  };

  return {
    async verifyAttempt(userId, now, policy, allowPending, events, decide) {
      return commit.write(() => attemptTx(userId, now, policy, allowPending, events, decide));
    },
    async get(userId) {
      return read(userId);
    },
    async enrol(userId, input, now, event) {
      return commit.write(() => enrolTx(userId, input, now, event));
    },
    async claimStep(id, step, now, activation) {
      return commit.write(() => claimTx(id, step, now, activation));
    },
  };
}

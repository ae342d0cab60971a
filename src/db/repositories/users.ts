import type { GroupCommit } from '../group-commit.js';
import type { Db } from '../open.js';
import type { AuditInput, ChargeOutcome, LockoutPolicy, UserRepository, UserRow } from '../types.js';
import { auditWriter } from './audit.js';

type Raw = {
  user_id: string;
  enabled: number;
  failed_attempts: number;
  locked_until: number | null;
  lockout_count: number;
  created_at: number;
  updated_at: number;
};

const COLUMNS = 'user_id, enabled, failed_attempts, locked_until, lockout_count, created_at, updated_at';

export function toUser(r: Raw): UserRow {
  return {
    userId: r.user_id,
    enabled: r.enabled === 1,
    failedAttempts: r.failed_attempts,
    lockedUntil: r.locked_until,
    lockoutCount: r.lockout_count,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/**
 * Makes the user's row if there is none (not enabled, no failures), in the caller's
 * transaction: a user comes to exist with their first enrolment or configuration.
 */
export function userEnsurer(db: Db): (userId: string, now: number) => void {
  const insert = db.prepare(
    'INSERT INTO users (user_id, enabled, failed_attempts, locked_until, lockout_count, created_at, updated_at) VALUES (?, 0, 0, NULL, 0, ?, ?) ON CONFLICT (user_id) DO NOTHING',
  );
  return (userId, now) => void insert.run(userId, now, now);
}

/** The n-th lockout in a row lasts base * 2^(n-1), never more than max. */
export function lockDurationMs(n: number, policy: LockoutPolicy): number {
  return Math.min(policy.baseMs * 2 ** Math.max(0, Math.min(n - 1, 30)), policy.maxMs);
}

/**
 * The lockout's statements, shared by the users repository and by the one-transaction TOTP
 * attempt (user-credentials.ts). Each must run inside a transaction the caller opened.
 */
export function lockoutOps(db: Db) {
  const audit = auditWriter(db);
  const get = db.prepare(`SELECT ${COLUMNS} FROM users WHERE user_id = ?`);
  const chargeStmt = db.prepare('UPDATE users SET failed_attempts = failed_attempts + 1, updated_at = ? WHERE user_id = ?');
  const lock = db.prepare('UPDATE users SET failed_attempts = 0, lockout_count = ?, locked_until = ?, updated_at = ? WHERE user_id = ?');
  const resetStmt = db.prepare('UPDATE users SET failed_attempts = 0, lockout_count = 0, locked_until = NULL, updated_at = ? WHERE user_id = ?');

  const read = (userId: string) => {
    const r = get.get(userId) as Raw | undefined;
    return r ? toUser(r) : null;
  };
  const isLocked = (u: UserRow, now: number) => u.lockedUntil !== null && u.lockedUntil > now;

  // The lock starts a fresh count: after it expires the user has `threshold` tries again, and
  // the next lockout lasts twice as long (lockout_count is cleared only by a success).
  const lockUser = (u: UserRow, now: number, policy: LockoutPolicy, event: AuditInput): number => {
    const n = u.lockoutCount + 1;
    const until = now + lockDurationMs(n, policy);
    lock.run(n, until, now, u.userId);
    audit({ ...event, reason: event.reason ?? `locked_${Math.ceil((until - now) / 1000)}s` });
    return until;
  };

  /** Refuses while locked (writing `refused`), and locks when `threshold` charges are already outstanding. */
  const refusal = (u: UserRow, now: number, policy: LockoutPolicy, events: { refused: AuditInput; lockout: AuditInput }): { outcome: 'locked'; lockedUntil: number } | null => {
    if (isLocked(u, now)) {
      audit(events.refused);
      return { outcome: 'locked', lockedUntil: u.lockedUntil as number };
    }
    // `threshold` charges are outstanding (failed, or still being checked): the budget is
    // spent. Locking here, not only when a check fails, bounds parallel guesses to the
    // threshold and cannot leave a user stuck if a process died between charge and settle.
    if (u.failedAttempts >= policy.threshold) {
      const until = lockUser(u, now, policy, events.lockout);
      audit(events.refused);
      return { outcome: 'locked', lockedUntil: until };
    }
    return null;
  };

  /** As refusal(), and when the attempt is admitted, counts one more failure until it is settled. */
  const charge = (u: UserRow, now: number, policy: LockoutPolicy, events: { refused: AuditInput; lockout: AuditInput }): ChargeOutcome => {
    const refused = refusal(u, now, policy, events);
    if (refused) return refused;
    chargeStmt.run(now, u.userId);
    return { outcome: 'charged' };
  };

  /**
   * charge() and settle() as one write, for an attempt admitted by refusal() and checked in the
   * same transaction: no other attempt can see the charge before its settlement, so the user
   * row is written once, with the state the two would have left (issue 5).
   */
  const chargeAndSettle = (u: UserRow, ok: boolean, now: number, policy: LockoutPolicy, lockout: AuditInput): void => {
    if (ok) resetStmt.run(now, u.userId);
    else if (u.failedAttempts + 1 >= policy.threshold) lockUser({ ...u, failedAttempts: u.failedAttempts + 1 }, now, policy, lockout);
    else chargeStmt.run(now, u.userId);
  };

  /** After a charge: a success clears everything; a failure keeps the charge and locks at the threshold. */
  const settle = (u: UserRow, ok: boolean, now: number, policy: LockoutPolicy, lockout: AuditInput): { lockedUntil: number | null } => {
    if (ok) {
      resetStmt.run(now, u.userId);
      return { lockedUntil: null };
    }
    if (isLocked(u, now)) return { lockedUntil: u.lockedUntil };
    if (u.failedAttempts >= policy.threshold) return { lockedUntil: lockUser(u, now, policy, lockout) };
    return { lockedUntil: null };
  };

  return { audit, read, refusal, charge, settle, chargeAndSettle };
}

export function createUserRepository(db: Db, commit: GroupCommit): UserRepository {
  const { audit, read, charge, settle } = lockoutOps(db);
  const ensureUser = userEnsurer(db);
  const setEnabled = db.prepare('UPDATE users SET enabled = ?, updated_at = ? WHERE user_id = ?');

  const ensureTx = (userId: string, now: number) => {
    ensureUser(userId, now);
    return read(userId) as UserRow;
  };
  const setEnabledTx = (userId: string, enabled: boolean, now: number, event: AuditInput) => {
    if (setEnabled.run(enabled ? 1 : 0, now, userId).changes !== 1) return false;
    audit(event);
    return true;
  };
  const chargeTx = (userId: string, now: number, policy: LockoutPolicy, events: { refused: AuditInput; lockout: AuditInput }): ChargeOutcome => {
    const u = read(userId);
    if (!u) return { outcome: 'unknown_user' };
    return charge(u, now, policy, events);
  };
  const settleTx = (userId: string, ok: boolean, now: number, policy: LockoutPolicy, events: { result: AuditInput | null; lockout: AuditInput }) => {
    if (events.result) audit(events.result);
    const u = read(userId);
    if (!u) return { lockedUntil: null };
    return settle(u, ok, now, policy, events.lockout);
  };

  return {
    async get(userId) {
      return read(userId);
    },
    async ensure(userId, now) {
      return commit.write(() => ensureTx(userId, now));
    },
    async setEnabled(userId, enabled, now, event) {
      return commit.write(() => setEnabledTx(userId, enabled, now, event));
    },
    async chargeAttempt(userId, now, policy, events) {
      return commit.write(() => chargeTx(userId, now, policy, events));
    },
    async settleAttempt(userId, ok, now, policy, events) {
      return commit.write(() => settleTx(userId, ok, now, policy, events));
    },
  };
}

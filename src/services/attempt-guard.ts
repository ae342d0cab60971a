import type { Clock } from '../clock.js';
import type { AuditInput, LockoutPolicy, Store } from '../db/types.js';
import { AppError } from '../errors.js';

// The lockout of API.md, shared by EVERY way a user proves a factor (TOTP, /generate codes,
// backup codes, challenges), keyed by user and never by client address, so spreading guesses
// over methods or addresses does not widen the budget.
//
// Usage, in a service that checks a code for a user:
//
//   const ticket = await guard.charge(userId, { ip, method: 'backup_code' }); // may throw 404 / 429
//   const ok = ...check the code, and claim it atomically (used_at, last_step...)...;
//   await guard.settle(ticket, ok, { reason: ok ? null : 'invalid_code' });
//   if (!ok) throw new AppError(401, ...);
//
// charge() counts the attempt as a failure BEFORE the code is checked, in one IMMEDIATE
// transaction, so N parallel guesses (in one process or several on the same database file)
// check at most LOCKOUT_THRESHOLD codes. settle() must follow every charge(); a success clears
// the count, a failure keeps it. Audit rows are written by the repository in the same
// transactions. Where the check is synchronous (TOTP), userCredentials.verifyAttempt does all of
// it in one transaction instead, with this guard's policy and events. The verification event is `verificationEvent(method)` unless settle() is given
// another one; /analytics/stats counts exactly those events.

export type AttemptMethod = 'totp' | 'otp' | 'backup_code' | 'challenge';

export const VERIFICATION_EVENTS: Record<AttemptMethod, string> = {
  totp: 'totp.verify',
  otp: 'otp.verify',
  backup_code: 'backup_code.verify',
  challenge: 'challenge.verify',
};

export const verificationEvent = (method: AttemptMethod): string => VERIFICATION_EVENTS[method];

export type AttemptContext = { ip: string | null; method: AttemptMethod };

export type AttemptTicket = Readonly<{ userId: string; ip: string | null; method: AttemptMethod }> & { settled: boolean };

/** What settle() writes: by default the method's verification event, success = ok, no reason. */
export type SettleAudit = Partial<AuditInput>;

export type AttemptGuard = {
  /**
   * Before a code is checked: 404 USER_NOT_FOUND for an unknown user (nothing written); 429
   * ACCOUNT_LOCKED with Retry-After while the user is locked (an audit row, reason 'locked');
   * otherwise charges one failure in the same transaction and returns a ticket.
   */
  charge(userId: string, ctx: AttemptContext): Promise<AttemptTicket>;
  /**
   * After the check: success resets the failure count, the lockout count and any lock; failure
   * keeps the charge and locks once the threshold is reached (audit event 'lockout'), the n-th
   * lockout in a row lasting LOCKOUT_BASE_SECONDS * 2^(n-1), at most LOCKOUT_MAX_SECONDS.
   * The verification audit row is written in the same transaction, unless `audit` is null:
   * then the caller's claim (of a step, a code) already wrote it with the change it records.
   */
  settle(ticket: AttemptTicket, ok: boolean, audit?: SettleAudit | null): Promise<void>;
  /**
   * For a repository method that runs charge, check and settle in ONE transaction itself
   * (userCredentials.verifyAttempt): the policy and the audit rows charge() and settle() write.
   */
  readonly policy: LockoutPolicy;
  events(userId: string, ctx: AttemptContext, now: number): { verification: (success: boolean, reason: string | null) => AuditInput; lockout: AuditInput };
};

export type AttemptGuardDeps = {
  store: Store;
  clock: Clock;
  threshold: number;
  baseSeconds: number;
  maxSeconds: number;
};

export function accountLocked(lockedUntil: number, now: number): AppError {
  const retryAfter = Math.max(1, Math.ceil((lockedUntil - now) / 1000));
  return new AppError(429, 'ACCOUNT_LOCKED', `Too many failed attempts: this user is locked for ${retryAfter} more seconds`, {
    'retry-after': String(retryAfter),
  });
}

export const userNotFound = () => new AppError(404, 'USER_NOT_FOUND', 'No such user');

export function createAttemptGuard(deps: AttemptGuardDeps): AttemptGuard {
  const { store, clock } = deps;
  const policy: LockoutPolicy = {
    threshold: deps.threshold,
    baseMs: deps.baseSeconds * 1000,
    maxMs: deps.maxSeconds * 1000,
  };
  const lockoutEvent = (userId: string, ip: string | null, at: number): AuditInput => ({ userId, event: 'lockout', success: false, ip, at });

  return {
    policy,
    events(userId, ctx, now) {
      const event = verificationEvent(ctx.method);
      return {
        verification: (success, reason) => ({ userId, event, success, reason, ip: ctx.ip, at: now }),
        lockout: lockoutEvent(userId, ctx.ip, now),
      };
    },

    async charge(userId, ctx) {
      const now = clock.now();
      const refused: AuditInput = { userId, event: verificationEvent(ctx.method), success: false, reason: 'locked', ip: ctx.ip, at: now };
      const r = await store.users.chargeAttempt(userId, now, policy, { refused, lockout: lockoutEvent(userId, ctx.ip, now) });
      if (r.outcome === 'unknown_user') throw userNotFound();
      if (r.outcome === 'locked') throw accountLocked(r.lockedUntil, now);
      return { userId, ip: ctx.ip, method: ctx.method, settled: false };
    },

    async settle(ticket, ok, audit = {}) {
      if (ticket.settled) throw new Error('an attempt ticket is settled once');
      ticket.settled = true;
      const now = clock.now();
      const result: AuditInput | null =
        audit === null
          ? null
          : {
              userId: ticket.userId,
              event: verificationEvent(ticket.method),
              ip: ticket.ip,
              at: now,
              ...audit,
              success: audit.success ?? ok,
              reason: audit.reason ?? null,
            };
      await store.users.settleAttempt(ticket.userId, ok, now, policy, { result, lockout: lockoutEvent(ticket.userId, ticket.ip, now) });
    },
  };
}

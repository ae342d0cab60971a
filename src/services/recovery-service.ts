import type { Clock } from '../clock.js';
import { randomId } from '../crypto/random.js';
import type { RecoveryRow, Store } from '../db/types.js';
import { AppError } from '../errors.js';
import { userNotFound } from './attempt-guard.js';
import type { RequestContext } from './context.js';

// Account recovery for a user who lost every factor: a request that an operator approves
// within RECOVERY_TTL_HOURS. Approval resets the user's factors (TOTP credential, backup codes,
// open challenges, unused one-time codes), turns 2FA off and clears the lockout, all in one
// transaction with its audit event, so the user can enrol again.

export type RecoveryServiceDeps = { store: Store; clock: Clock; ttlHours: number };

export const recoveryNotFound = () => new AppError(404, 'RECOVERY_NOT_FOUND', 'No such recovery request');
export const recoveryAlreadyApproved = () => new AppError(409, 'RECOVERY_ALREADY_APPROVED', 'This recovery request was already approved');
export const recoveryExpired = () => new AppError(410, 'RECOVERY_EXPIRED', 'This recovery request has expired; the user must ask again');
export const recoveryPending = () =>
  new AppError(409, 'RECOVERY_ALREADY_PENDING', 'This user already has a pending recovery request; approve it or let it expire');

function refusal(r: RecoveryRow, now: number): AppError {
  if (r.status === 'approved') return recoveryAlreadyApproved();
  if (r.status === 'expired' || r.expiresAt <= now) return recoveryExpired();
  // Pending and unexpired yet not approvable: only a racing approval can cause this.
  return recoveryAlreadyApproved();
}

export function createRecoveryService(deps: RecoveryServiceDeps) {
  const { store, clock } = deps;

  return {
    async request(userId: string, reason: string, ctx: RequestContext) {
      if (!(await store.users.get(userId))) throw userNotFound();
      const now = clock.now();
      const row = { id: randomId(16), userId, reason, createdAt: now, expiresAt: now + deps.ttlHours * 3600 * 1000 };
      // The reason is free text from the caller: kept with the request, never in the audit log.
      const created = await store.recovery.create(row, { userId, event: 'recovery.request', success: true, ip: ctx.ip, at: now });
      if (!created) throw recoveryPending();
      return { recoveryId: row.id, status: 'pending' as const, expiresAt: row.expiresAt };
    },

    async approve(recoveryId: string, approvedBy: string, ctx: RequestContext) {
      const before = await store.recovery.get(recoveryId);
      if (!before) throw recoveryNotFound();
      const now = clock.now();
      if (before.status !== 'pending' || before.expiresAt <= now) throw refusal(before, now);
      const approved = await store.recovery.approve(recoveryId, approvedBy, now, (r) => ({
        userId: r.userId,
        event: 'recovery.approve',
        success: true,
        reason: 'factors_reset',
        ip: ctx.ip,
        at: now,
      }));
      if (!approved) {
        const after = await store.recovery.get(recoveryId);
        throw after ? refusal(after, now) : recoveryNotFound();
      }
      return { recoveryId, status: 'approved' as const, userId: approved.userId };
    },
  };
}

export type RecoveryService = ReturnType<typeof createRecoveryService>;

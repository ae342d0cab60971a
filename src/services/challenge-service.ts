import type { Clock } from '../clock.js';
import { randomId } from '../crypto/random.js';
import type { ChallengeMethod, ChallengeRow, Store } from '../db/types.js';
import { AppError } from '../errors.js';
import { accountLocked, userNotFound, verificationEvent, type AttemptGuard } from './attempt-guard.js';
import type { BackupCodeService } from './backup-code-service.js';
import type { RequestContext } from './context.js';
import type { UserTotp } from './user-totp.js';

// A challenge asks a user to prove one factor within CHALLENGE_TTL_SECONDS and at most
// CHALLENGE_MAX_ATTEMPTS tries; it succeeds once. Each try is charged twice, both before the
// code is checked: to the challenge (its own bound) and to the user's lockout (the guard,
// shared with every method), so a challenge is no way around the lockout.

export type ChallengeServiceDeps = {
  store: Store;
  clock: Clock;
  guard: AttemptGuard;
  backupCodes: Pick<BackupCodeService, 'spend'>;
  userTotp: Pick<UserTotp, 'check'>;
  ttlSeconds: number;
  maxAttempts: number;
};

export const challengeNotFound = () => new AppError(404, 'CHALLENGE_NOT_FOUND', 'No such challenge');
export const challengeAlreadyVerified = () =>
  new AppError(409, 'CHALLENGE_ALREADY_VERIFIED', 'This challenge was already verified; create a new one');
export const challengeExpired = (why: 'time' | 'attempts') =>
  new AppError(
    410,
    'CHALLENGE_EXPIRED',
    why === 'time' ? 'This challenge has expired; create a new one' : 'This challenge has used all its attempts; create a new one',
  );
export const methodNotAvailable = (method: ChallengeMethod) =>
  new AppError(
    409,
    'METHOD_NOT_AVAILABLE',
    method === 'totp' ? 'This user has no active TOTP enrolment' : 'This user has no unused backup codes',
  );

export function createChallengeService(deps: ChallengeServiceDeps) {
  const { store, clock, guard } = deps;

  /** Why a challenge can take no more attempts, or null while it can. */
  function closed(ch: ChallengeRow, now: number): AppError | null {
    if (ch.verifiedAt !== null) return challengeAlreadyVerified();
    if (ch.expiresAt <= now) return challengeExpired('time');
    if (ch.attempts >= ch.maxAttempts) return challengeExpired('attempts');
    return null;
  }

  return {
    async create(userId: string, method: ChallengeMethod, ctx: RequestContext) {
      if (!(await store.users.get(userId))) throw userNotFound();
      const available =
        method === 'totp'
          ? (await store.userCredentials.get(userId))?.status === 'active'
          : (await store.backupCodes.remaining(userId)) > 0;
      if (!available) throw methodNotAvailable(method);
      const now = clock.now();
      const row = { id: randomId(16), userId, method, maxAttempts: deps.maxAttempts, createdAt: now, expiresAt: now + deps.ttlSeconds * 1000 };
      await store.challenges.create(row, { userId, event: 'challenge.create', success: true, reason: method, ip: ctx.ip, at: now });
      return { challengeId: row.id, method, expiresAt: row.expiresAt };
    },

    async verify(challengeId: string, code: string, ctx: RequestContext) {
      const ch = await store.challenges.get(challengeId);
      if (!ch) throw challengeNotFound();
      const early = closed(ch, clock.now());
      if (early) {
        // No code is checked, so nothing is charged to the lockout; the refusal is still a
        // failed verification for the audit log. API.md: while the user is locked, every
        // verification is 429 with Retry-After, a closed challenge's included.
        const at = clock.now();
        const lockedUntil = (await store.users.get(ch.userId))?.lockedUntil ?? null;
        const locked = lockedUntil !== null && lockedUntil > at;
        const reason = locked ? 'locked' : `${ch.method}:${early.code.toLowerCase()}`;
        await store.audit.append({ userId: ch.userId, event: verificationEvent('challenge'), success: false, reason, ip: ctx.ip, at });
        throw locked ? accountLocked(lockedUntil, at) : early;
      }
      const ticket = await guard.charge(ch.userId, { ip: ctx.ip, method: 'challenge' });
      let ok = false;
      let reason: string | null = 'invalid_code';
      try {
        // Charged before the check, conditionally: racing tries cannot exceed max_attempts.
        if (!(await store.challenges.chargeAttempt(ch.id, clock.now()))) {
          reason = 'challenge_closed';
          const now = await store.challenges.get(ch.id);
          throw (now && closed(now, clock.now())) ?? challengeExpired('attempts');
        }
        if (ch.method === 'backup_code') {
          const r = await deps.backupCodes.spend(ch.userId, code, ctx);
          ok = r.ok;
          if (!r.ok) reason = r.reason === 'used' ? 'replay' : 'invalid_code';
        } else {
          const r = await deps.userTotp.check(ch.userId, code, ctx, { allowPending: false });
          ok = r.ok;
          if (!r.ok) reason = r.reason;
        }
        if (ok && !(await store.challenges.markVerified(ch.id, clock.now()))) {
          // Another request verified it in the meantime: this one does not count as a success.
          ok = false;
          reason = 'challenge_closed';
          throw challengeAlreadyVerified();
        }
        if (ok) reason = null;
      } finally {
        await guard.settle(ticket, ok, { reason: reason === null ? null : `${ch.method}:${reason}` });
      }
      if (!ok) throw new AppError(401, 'INVALID_CODE', 'The code is not valid for this challenge');
      return { verified: true as const, userId: ch.userId, method: ch.method };
    },
  };
}

export type ChallengeService = ReturnType<typeof createChallengeService>;

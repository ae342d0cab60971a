import type { Clock } from '../clock.js';
import type { KeyRing } from '../crypto/aes-gcm.js';
import type { CredentialRow, Store } from '../db/types.js';
import { AppError } from '../errors.js';
import { isWellFormedCode, matchStep } from '../otp/totp.js';
import { accountLocked, userNotFound, type AttemptGuard } from './attempt-guard.js';
import type { RequestContext } from './context.js';
import { credentialAad } from './credential-aad.js';

// Checking a user's TOTP code: the window of TOTP_WINDOW steps, then an atomic claim of the
// step (replay protection that holds across processes), and on the first success of a pending
// enrolment its activation, all by the repository in one transaction.

export type TotpCheck = { ok: true; activated: boolean } | { ok: false; reason: 'not_enrolled' | 'invalid_code' | 'replay' };

export type UserTotpDeps = { store: Store; keyRing: KeyRing; clock: Clock; totpWindow: number; guard: AttemptGuard };

export const invalidOtp = () => new AppError(401, 'INVALID_OTP', 'The code is not valid');
export const notEnrolled = () =>
  new AppError(404, 'NOT_ENROLLED', 'This user has no confirmed TOTP enrolment: POST /totp/register or /totp/setup, then /totp/verify');

export function createUserTotp(deps: UserTotpDeps) {
  const { store, keyRing, clock } = deps;

  /** True when `code` has the shape of this user's TOTP codes (used to tell them from backup codes). */
  function looksLikeCode(cred: CredentialRow | null, code: string): boolean {
    return cred !== null && isWellFormedCode(code, cred.digits);
  }

  /**
   * Checks and claims a code WITHOUT the attempt guard, for callers that charge the attempt
   * themselves (a challenge charges once, as method 'challenge') and write their own audit row.
   * The only row written here is the activation of a pending enrolment.
   */
  async function check(userId: string, code: string, ctx: RequestContext, opts: { allowPending: boolean }): Promise<TotpCheck> {
    const cred = await store.userCredentials.get(userId);
    if (!cred || (cred.status === 'pending' && !opts.allowPending)) return { ok: false, reason: 'not_enrolled' };
    const now = clock.now();
    const secret = keyRing.open({ keyId: cred.keyId, blob: cred.secretBlob }, credentialAad('user', userId));
    const step = matchStep(secret, cred, code, now, deps.totpWindow);
    secret.fill(0);
    if (step === null) return { ok: false, reason: 'invalid_code' };
    const activation = { userId, event: 'enrolment.activate', success: true, ip: ctx.ip, at: now };
    const r = await store.userCredentials.claimStep(cred.id, step, now, activation);
    return r.won ? { ok: true, activated: r.activated } : { ok: false, reason: 'replay' };
  }

  return {
    looksLikeCode,
    check,

    /**
     * The whole verification: 404 for an unknown user or one without an enrolment (nothing
     * written), then charge (429 while locked), check, settle; 401 INVALID_OTP on failure.
     */
    async verify(userId: string, code: string, ctx: RequestContext, opts: { allowPending: boolean }): Promise<{ activated: boolean }> {
      // One transaction: charge, check (synchronous: open the sealed secret, compare the
      // window's codes), claim the step, settle, with every audit row (issue 5: three write
      // transactions and four reads before).
      const now = clock.now();
      const { verification, lockout } = deps.guard.events(userId, { ip: ctx.ip, method: 'totp' }, now);
      const activation = { userId, event: 'enrolment.activate', success: true, ip: ctx.ip, at: now };
      const r = await store.userCredentials.verifyAttempt(userId, now, deps.guard.policy, opts.allowPending, { verification, lockout, activation }, (cred) => {
        const secret = keyRing.open({ keyId: cred.keyId, blob: cred.secretBlob }, credentialAad('user', userId));
        try {
          return matchStep(secret, cred, code, now, deps.totpWindow);
        } finally {
          secret.fill(0);
        }
      });
      switch (r.outcome) {
        case 'success':
          return { activated: r.activated };
        case 'unknown_user':
          throw userNotFound();
        case 'not_enrolled':
          throw notEnrolled();
        case 'locked':
          throw accountLocked(r.lockedUntil, now);
        case 'error':
          throw r.error;
        default:
          throw invalidOtp();
      }
    },
  };
}

export type UserTotp = ReturnType<typeof createUserTotp>;

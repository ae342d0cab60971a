import type { Clock } from '../clock.js';
import type { Store } from '../db/types.js';
import { AppError } from '../errors.js';
import { userNotFound } from './attempt-guard.js';
import type { RequestContext } from './context.js';
import { notEnrolled, type UserTotp } from './user-totp.js';

// Turning a user's 2FA on and off, and the user's status. Turning it off weakens the account,
// so for an enabled user it takes a valid second factor: a TOTP code or a backup code. Both go
// through the attempt guard.

export type TotpState = 'none' | 'pending' | 'active';

export type UserStatus = {
  userId: string;
  enabled: boolean;
  totp: TotpState;
  backupCodesRemaining: number;
  /** ms since the epoch while the user is locked, else null. */
  lockedUntil: number | null;
  failedAttempts: number;
};

export type TwoFactorServiceDeps = {
  store: Store;
  clock: Clock;
  userTotp: UserTotp;
  /** Unused backup codes of a user. */
  backupCodesRemaining: (userId: string) => Promise<number>;
  /**
   * Verifies a code that is not shaped like the user's TOTP codes as another factor (a backup
   * code): charges and settles the attempt guard itself, throws its own 4xx or returns false.
   */
  otherFactor: (userId: string, code: string, ctx: RequestContext) => Promise<boolean>;
};

export function createTwoFactorService(deps: TwoFactorServiceDeps) {
  const { store, clock, userTotp } = deps;

  async function requireUser(userId: string) {
    const user = await store.users.get(userId);
    if (!user) throw userNotFound();
    return user;
  }

  const event = (userId: string, name: string, ctx: RequestContext, reason: string | null = null) => ({
    userId,
    event: name,
    success: true,
    reason,
    ip: ctx.ip,
    at: clock.now(),
  });

  return {
    async status(userId: string): Promise<UserStatus> {
      const user = await requireUser(userId);
      const cred = await store.userCredentials.get(userId);
      const now = clock.now();
      return {
        userId,
        enabled: user.enabled,
        totp: cred ? cred.status : 'none',
        backupCodesRemaining: await deps.backupCodesRemaining(userId),
        lockedUntil: user.lockedUntil !== null && user.lockedUntil > now ? user.lockedUntil : null,
        failedAttempts: user.failedAttempts,
      };
    },

    /**
     * Needs a TOTP enrolment. With a code, the code is verified first (and confirms a pending
     * enrolment); without one, only an active enrolment can be switched on.
     */
    async enable(userId: string, code: string | undefined, ctx: RequestContext): Promise<boolean> {
      await requireUser(userId);
      const cred = await store.userCredentials.get(userId);
      if (!cred || (cred.status === 'pending' && code === undefined)) throw notEnrolled();
      if (code !== undefined) await userTotp.verify(userId, code, ctx, { allowPending: true });
      await store.users.setEnabled(userId, true, clock.now(), event(userId, 'twofa.enable', ctx));
      return true;
    },

    /** For an enabled user: 400 CODE_REQUIRED without a code, 401 for a wrong one. */
    async disable(userId: string, code: string | undefined, ctx: RequestContext): Promise<boolean> {
      const user = await requireUser(userId);
      if (user.enabled) {
        if (code === undefined) throw new AppError(400, 'CODE_REQUIRED', 'Disabling 2FA needs a valid code (TOTP or backup code)');
        const cred = await store.userCredentials.get(userId);
        if (!userTotp.looksLikeCode(cred, code)) {
          if (!(await deps.otherFactor(userId, code, ctx))) throw new AppError(401, 'INVALID_CODE', 'The code is not valid');
        } else {
          await userTotp.verify(userId, code, ctx, { allowPending: false });
        }
      }
      await store.users.setEnabled(userId, false, clock.now(), event(userId, 'twofa.disable', ctx, user.enabled ? null : 'already_disabled'));
      return false;
    },
  };
}

export type TwoFactorService = ReturnType<typeof createTwoFactorService>;

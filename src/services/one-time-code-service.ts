import type { Clock } from '../clock.js';
import type { KeyRing } from '../crypto/aes-gcm.js';
import { randomDigits } from '../crypto/random.js';
import { createHmac, createSecretKey } from 'node:crypto';
import type { Store } from '../db/types.js';
import { AppError } from '../errors.js';
import { isWellFormedCode } from '../otp/totp.js';
import { userNotFound, type AttemptGuard } from './attempt-guard.js';
import type { RequestContext } from './context.js';

// POST /generate and POST /verify (seeds/003): a random code the caller delivers (mail, SMS),
// valid OTP_EXPIRATION_MINUTES, usable once. Only HMAC-SHA256(key derived from the data key,
// user + code) is stored: six digits are trivial to enumerate from a plain or salted hash, not
// from a keyed one. A code hashed under a data key that has since rotated simply no longer
// matches; codes live minutes, so nothing re-keys them.

export const OTP_DIGITS = 6;

export type OneTimeCodeServiceDeps = { store: Store; keyRing: KeyRing; clock: Clock; expirationMinutes: number; guard: AttemptGuard };

export function createOneTimeCodeService(deps: OneTimeCodeServiceDeps) {
  const { store, clock } = deps;
  const keyId = deps.keyRing.current.id;
  // A KeyObject, made once: on Node 24.21 and later an HMAC under a Buffer key costs ~5x more (src/otp/totp.ts).
  const hashKey = createSecretKey(createHmac('sha256', deps.keyRing.current.key).update('one-time-code-hash-v1').digest());
  const hash = (userId: string, code: string) => createHmac('sha256', hashKey).update(`${userId}\n${code}`).digest();

  return {
    async generate(userId: string, ctx: RequestContext): Promise<{ code: string; expiresAt: number }> {
      const code = randomDigits(OTP_DIGITS);
      const now = clock.now();
      const expiresAt = now + deps.expirationMinutes * 60_000;
      const ok = await store.oneTimeCodes.issue(userId, hash(userId, code), keyId, now, expiresAt, {
        userId,
        event: 'otp.generate',
        success: true,
        ip: ctx.ip,
        at: now,
      });
      if (!ok) throw userNotFound();
      return { code, expiresAt };
    },

    /** 401 INVALID_OTP, 410 OTP_EXPIRED, 409 OTP_ALREADY_USED, each a charged failure. */
    async verify(userId: string, code: string, ctx: RequestContext): Promise<void> {
      if (!(await store.users.get(userId))) throw userNotFound();
      const ticket = await deps.guard.charge(userId, { ip: ctx.ip, method: 'otp' });
      const fail = async (reason: string, err: AppError): Promise<never> => {
        await deps.guard.settle(ticket, false, { reason });
        throw err;
      };
      const row = isWellFormedCode(code, OTP_DIGITS) ? await store.oneTimeCodes.find(userId, hash(userId, code)) : null;
      if (!row) return fail('invalid_code', new AppError(401, 'INVALID_OTP', 'The code is not valid'));
      const used = () => new AppError(409, 'OTP_ALREADY_USED', 'This code was already used');
      if (row.usedAt !== null) return fail('replay', used());
      if (clock.now() >= row.expiresAt) return fail('expired', new AppError(410, 'OTP_EXPIRED', 'This code has expired; ask for a new one'));
      // The conditional UPDATE decides between racing requests with the same code.
      // The success row is written with used_at, in the same transaction.
      const now = clock.now();
      const success = { userId, event: 'otp.verify', success: true, ip: ctx.ip, at: now };
      if (!(await store.oneTimeCodes.use(row.id, now, success))) return fail('replay', used());
      await deps.guard.settle(ticket, true, null);
    },
  };
}

export type OneTimeCodeService = ReturnType<typeof createOneTimeCodeService>;

import type { Clock } from '../clock.js';
import type { BackupCodeClaim, Store } from '../db/types.js';
import { concurrencyLimit } from '../concurrency-limit.js';
import { AppError } from '../errors.js';
import { hashBackupCode, newBackupCode, newBackupCodeSalt, normalizeBackupCode } from '../otp/backup-codes.js';
import { userNotFound, type AttemptGuard } from './attempt-guard.js';
import type { RequestContext } from './context.js';

// Backup codes (API.md): shown once, stored as salted scrypt hashes, each usable once, a new
// set voids the old. Verification goes through the attempt guard like every other method.

export type BackupCodeServiceDeps = { store: Store; clock: Clock; guard: AttemptGuard; defaultCount: number };

// scrypt runs on libuv's thread pool (4 threads by default), which backup-code checks share.
// Generating a set of up to 50 codes queues up to 50 hashes: a few parallel generations used
// to hold every thread for tens of seconds, and each check waited behind them. The hashes of
// generations share two threads, in this process; checks keep the rest.
const generationHashes = concurrencyLimit(2);

export const invalidBackupCode = () => new AppError(401, 'INVALID_CODE', 'The backup code is not valid (or was already used)');

export function createBackupCodeService(deps: BackupCodeServiceDeps) {
  const { store, clock, guard } = deps;

  async function requireUser(userId: string): Promise<void> {
    if (!(await store.users.get(userId))) throw userNotFound();
  }

  /**
   * Checks and spends one backup code, WITHOUT the attempt guard: for callers (this service,
   * challenges, /disable) that already hold a ticket for this user.
   */
  async function spend(userId: string, code: string, ctx: RequestContext): Promise<BackupCodeClaim> {
    const normalized = normalizeBackupCode(code);
    if (normalized === null) return { ok: false, reason: 'no_match' };
    // With no set, still pay for one hash, so the answer time does not say whether codes exist.
    const salt = (await store.backupCodes.salt(userId)) ?? newBackupCodeSalt();
    const hash = await hashBackupCode(normalized, salt);
    const now = clock.now();
    return store.backupCodes.claim(userId, hash, now, { userId, event: 'backup_code.use', success: true, ip: ctx.ip, at: now });
  }

  return {
    spend,

    async generate(userId: string, count: number | undefined, ctx: RequestContext) {
      await requireUser(userId);
      const codes = Array.from({ length: count ?? deps.defaultCount }, newBackupCode);
      const salt = newBackupCodeSalt();
      const hashes = await Promise.all(codes.map((c) => generationHashes(() => hashBackupCode(normalizeBackupCode(c) as string, salt))));
      const now = clock.now();
      await store.backupCodes.replaceSet(userId, salt, hashes, now, {
        userId,
        event: 'backup_codes.generate',
        success: true,
        reason: `count_${codes.length}`,
        ip: ctx.ip,
        at: now,
      });
      return { userId, codes, generatedAt: now };
    },

    async list(userId: string) {
      await requireUser(userId);
      const set = await store.backupCodes.get(userId);
      const codes = set?.codes ?? [];
      return {
        total: codes.length,
        remaining: codes.filter((c) => c.usedAt === null).length,
        generatedAt: set?.generatedAt ?? null,
        codes,
      };
    },

    async remaining(userId: string): Promise<number> {
      return store.backupCodes.remaining(userId);
    },

    /** 200 with the codes left, or 401 INVALID_CODE; 404 / 429 from the guard before any check. */
    async verify(userId: string, code: string, ctx: RequestContext): Promise<{ remaining: number }> {
      const ticket = await guard.charge(userId, { ip: ctx.ip, method: 'backup_code' });
      let result: BackupCodeClaim = { ok: false, reason: 'no_match' };
      try {
        result = await spend(userId, code, ctx);
      } finally {
        await guard.settle(ticket, result.ok, { reason: result.ok ? null : result.reason === 'used' ? 'replay' : 'invalid_code' });
      }
      if (!result.ok) throw invalidBackupCode();
      return { remaining: result.remaining };
    },
  };
}

export type BackupCodeService = ReturnType<typeof createBackupCodeService>;

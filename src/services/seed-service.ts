import type { Clock } from '../clock.js';
import type { KeyRing } from '../crypto/aes-gcm.js';
import { sharedRsaDecryptPool } from '../crypto/rsa-pool.js';
import type { RsaKeyPair } from '../crypto/rsa-oaep.js';
import type { CredentialRow, Store } from '../db/types.js';
import { AppError } from '../errors.js';
import { parseSeed } from '../otp/seed-format.js';
import { DEFAULT_PARAMS, matchStep, secondsRemaining, totp } from '../otp/totp.js';
import type { RequestContext } from './context.js';

// The RPA flow: one service-wide TOTP seed, received RSA-OAEP encrypted, kept AES-GCM sealed.

export const SERVICE_SEED_AAD = 'totp-credential:service';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export type SeedServiceDeps = {
  store: Store;
  keyRing: KeyRing;
  rsa: RsaKeyPair | null;
  clock: Clock;
  totpWindow: number;
};

export type CurrentCode = { code: string; validFor: number; timestamp: number };

export function createSeedService(deps: SeedServiceDeps) {
  const { store, keyRing, clock } = deps;

  async function loadSeed(): Promise<{ row: CredentialRow; secret: Buffer } | null> {
    const row = await store.credentials.getService();
    if (!row) return null;
    return { row, secret: keyRing.open({ keyId: row.keyId, blob: row.secretBlob }, SERVICE_SEED_AAD) };
  }

  async function requireSeed() {
    const seed = await loadSeed();
    if (!seed) throw new AppError(404, 'SEED_NOT_SET', 'No seed has been set yet: POST /decrypt-seed first');
    return seed;
  }

  function codeFor(row: CredentialRow, secret: Buffer, timeMs: number): CurrentCode {
    return {
      code: totp(secret, row, timeMs),
      validFor: secondsRemaining(timeMs, row.period),
      timestamp: Math.floor(timeMs / 1000),
    };
  }

  return {
    async isSet(): Promise<boolean> {
      return (await store.credentials.getService()) !== null;
    },

    async setEncryptedSeed(encryptedSeed: string, ctx: RequestContext): Promise<void> {
      const b64 = encryptedSeed.replace(/\s+/g, '');
      if (b64.length === 0 || !BASE64.test(b64)) {
        throw new AppError(400, 'INVALID_BASE64', 'encrypted_seed is not valid base64');
      }
      if (!deps.rsa) throw new Error('the RSA private key is not loaded');
      let plaintext: Buffer;
      try {
        // On a worker thread: ~5 ms of CPU that would otherwise stall every other request.
        plaintext = await sharedRsaDecryptPool().decrypt(deps.rsa.privateKey, Buffer.from(b64, 'base64'));
      } catch {
        // One answer for every failure: no padding oracle, no detail.
        throw new AppError(400, 'DECRYPTION_FAILED', 'encrypted_seed could not be decrypted with the service key');
      }
      const secret = parseSeed(plaintext);
      plaintext.fill(0);
      if (!secret) {
        throw new AppError(422, 'INVALID_SEED', 'The decrypted seed must be 64 hex characters or a base32 secret of at least 128 bits');
      }
      const sealed = keyRing.seal(secret, SERVICE_SEED_AAD);
      secret.fill(0);
      const now = clock.now();
      await store.credentials.replaceService(
        { secretBlob: sealed.blob, keyId: sealed.keyId, ...DEFAULT_PARAMS, status: 'active' },
        now,
        { userId: null, event: 'seed.set', success: true, ip: ctx.ip, at: now },
      );
    },

    async currentCode(): Promise<CurrentCode> {
      const { row, secret } = await requireSeed();
      return codeFor(row, secret, clock.now());
    },

    /** The code for a given moment, or null while no seed is set (the cron worker's question). */
    async codeAt(timeMs: number): Promise<string | null> {
      const seed = await loadSeed();
      return seed ? totp(seed.secret, seed.row, timeMs) : null;
    },

    /** Accepts a code within the window at most once: a replayed code is simply not valid. */
    async verify(code: string, ctx: RequestContext): Promise<{ valid: boolean; timestamp: number }> {
      const { row, secret } = await requireSeed();
      const now = clock.now();
      const timestamp = Math.floor(now / 1000);
      const step = matchStep(secret, row, code, now, deps.totpWindow);
      const event = (success: boolean, reason: string | null) => ({ userId: null, event: 'seed.verify', success, reason, ip: ctx.ip, at: now });
      if (step === null) {
        await store.audit.append(event(false, 'invalid_code'));
        return { valid: false, timestamp };
      }
      const won = await store.credentials.claimStep(row.id, step, now, (ok) => event(ok, ok ? null : 'replay'));
      return { valid: won, timestamp };
    },
  };
}

export type SeedService = ReturnType<typeof createSeedService>;

import { timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { KeyRing } from '../crypto/aes-gcm.js';
import { decryptOaepSha256, type RsaKeyPair } from '../crypto/rsa-oaep.js';
import type { CredentialRow, Store } from '../db/types.js';
import { AppError } from '../errors.js';
import { parseSeed } from '../otp/seed-format.js';
import { DEFAULT_PARAMS, indexOfCode, isWellFormedCode, secondsRemaining, timeStep, totp, windowCodes } from '../otp/totp.js';
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

  /** Whether the stored seed is `secret` (one it cannot open counts as another). */
  function sameSecret(row: CredentialRow, secret: Buffer): boolean {
    let stored: Buffer;
    try {
      stored = keyRing.open({ keyId: row.keyId, blob: row.secretBlob }, SERVICE_SEED_AAD);
    } catch {
      return false;
    }
    try {
      return stored.length === secret.length && timingSafeEqual(stored, secret);
    } finally {
      stored.fill(0);
    }
  }

  async function loadSeed(): Promise<{ row: CredentialRow; secret: Buffer } | null> {
    const row = await store.credentials.getService();
    if (!row) return null;
    return { row, secret: keyRing.open({ keyId: row.keyId, blob: row.secretBlob }, SERVICE_SEED_AAD) };
  }

  // The seed's codes for the steps of the verification window around now, computed once per
  // time step instead of on every request (issue 5: each request opened the sealed seed and ran
  // one to three HMACs for codes that only change every `period` seconds). Only codes are kept,
  // never the seed. The row is still read on every request, and the cache is keyed by the sealed
  // blob (a fresh random IV on every seal), so a seed replaced or re-sealed, by this process or
  // another one, is never answered from a stale entry.
  let windowCache: { blob: Buffer; keyId: string; params: string; step: number; codes: string[] } | null = null;

  function cachedWindow(row: CredentialRow, timeMs: number): { first: number; codes: string[] } {
    const step = timeStep(timeMs, row.period);
    const params = `${row.algorithm}/${row.digits}/${row.period}`;
    const c = windowCache;
    if (c && c.step === step && c.keyId === row.keyId && c.params === params && c.blob.equals(row.secretBlob)) {
      return { first: step - deps.totpWindow, codes: c.codes };
    }
    const secret = keyRing.open({ keyId: row.keyId, blob: row.secretBlob }, SERVICE_SEED_AAD);
    const codes = windowCodes(secret, row, timeMs, deps.totpWindow);
    secret.fill(0);
    windowCache = { blob: Buffer.from(row.secretBlob), keyId: row.keyId, params, step, codes };
    return { first: step - deps.totpWindow, codes };
  }

  async function requireRow(): Promise<CredentialRow> {
    const row = await store.credentials.getService();
    if (!row) throw new AppError(404, 'SEED_NOT_SET', 'No seed has been set yet: POST /decrypt-seed first');
    return row;
  }

  function codeFor(row: CredentialRow, timeMs: number): CurrentCode {
    const { codes } = cachedWindow(row, timeMs);
    return {
      code: codes[deps.totpWindow] as string,
      validFor: secondsRemaining(timeMs, row.period),
      timestamp: Math.floor(timeMs / 1000),
    };
  }

  /** As matchStep (otp/totp.ts), over the cached codes. */
  function matchCachedStep(row: CredentialRow, code: string, timeMs: number): number | null {
    if (!isWellFormedCode(code, row.digits)) return null;
    const { first, codes } = cachedWindow(row, timeMs);
    const i = indexOfCode(codes, code);
    return i === null ? null : first + i;
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
        // On libuv's thread pool: ~5 ms of CPU that would otherwise stall every other request.
        plaintext = await decryptOaepSha256(deps.rsa.privateKey, Buffer.from(b64, 'base64'));
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
      const now = clock.now();
      try {
        await store.credentials.replaceService(
          { secretBlob: sealed.blob, keyId: sealed.keyId, ...DEFAULT_PARAMS, status: 'active' },
          now,
          { userId: null, event: 'seed.set', success: true, ip: ctx.ip, at: now },
          (old) => sameSecret(old, secret),
        );
      } finally {
        secret.fill(0);
      }
    },

    async currentCode(): Promise<CurrentCode> {
      return codeFor(await requireRow(), clock.now());
    },

    /** The code for a given moment, or null while no seed is set (the cron worker's question). */
    async codeAt(timeMs: number): Promise<string | null> {
      const seed = await loadSeed();
      return seed ? totp(seed.secret, seed.row, timeMs) : null;
    },

    /** Accepts a code within the window at most once: a replayed code is simply not valid. */
    async verify(code: string, ctx: RequestContext): Promise<{ valid: boolean; timestamp: number }> {
      const row = await requireRow();
      const now = clock.now();
      const timestamp = Math.floor(now / 1000);
      const step = matchCachedStep(row, code, now);
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

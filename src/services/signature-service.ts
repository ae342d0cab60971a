import type { Clock } from '../clock.js';
import { createSecretKey, timingSafeEqual } from 'node:crypto';
import { hmacSha256 } from '../crypto/hmac.js';
import type { Store } from '../db/types.js';
import { AppError } from '../errors.js';

// Request signatures (API.md "Request signatures"): HMAC-SHA256 over
// "<timestamp>\n<METHOD>\n<path with query>\n<hex sha256 of raw body>", a window in both
// directions, and each signature accepted once (a database guarantee, so restarts and a second
// process do not reopen it).

export type SignedRequest = {
  timestamp: string | undefined;
  signature: string | undefined;
  method: string;
  pathWithQuery: string;
  bodySha256Hex: string;
};

export type SignatureServiceDeps = {
  store: Store;
  clock: Clock;
  hmacSecret: string;
  windowSeconds: number;
  allowTimestampOnly: boolean;
};

const invalid = (message: string) => new AppError(401, 'INVALID_SIGNATURE', message);

export function canonicalString(r: Pick<SignedRequest, 'method' | 'pathWithQuery' | 'bodySha256Hex'> & { timestamp: string }): string {
  return `${r.timestamp}\n${r.method.toUpperCase()}\n${r.pathWithQuery}\n${r.bodySha256Hex}`;
}

export function createSignatureService(deps: SignatureServiceDeps) {
  // Imported once rather than on every HMAC (issue 5); the same bytes as the configured string.
  const key = createSecretKey(Buffer.from(deps.hmacSecret, 'utf8'));
  return {
    async verify(r: SignedRequest): Promise<void> {
      if (!r.timestamp || !r.signature) throw invalid('X-Timestamp and X-Signature headers are required');
      if (!/^\d{1,12}$/.test(r.timestamp)) throw invalid('X-Timestamp must be unix seconds');
      if (!/^[0-9a-f]{64}$/.test(r.signature)) throw invalid('X-Signature must be 64 lowercase hex characters');
      const nowMs = deps.clock.now();
      const skew = Math.abs(Math.floor(nowMs / 1000) - Number(r.timestamp));
      if (skew > deps.windowSeconds) {
        throw new AppError(401, 'SIGNATURE_EXPIRED', `X-Timestamp is more than ${deps.windowSeconds} seconds from the server's clock`);
      }
      // Both sides are 32-byte digests (the format was checked above), compared in constant time.
      const given = Buffer.from(r.signature, 'hex');
      let ok = timingSafeEqual(hmacSha256(key, canonicalString({ ...r, timestamp: r.timestamp })), given);
      if (!ok && deps.allowTimestampOnly) ok = timingSafeEqual(hmacSha256(key, r.timestamp), given);
      if (!ok) throw invalid('X-Signature does not match the request');
      // Kept until it can no longer pass the window check, then forgotten.
      const forgetBefore = Math.floor(nowMs / 1000) - deps.windowSeconds - 1;
      if (!(await deps.store.signatures.claim(r.signature, Number(r.timestamp), forgetBefore, nowMs))) {
        throw new AppError(401, 'SIGNATURE_REPLAYED', 'This signature was already used');
      }
    },
  };
}

export type SignatureService = ReturnType<typeof createSignatureService>;

import { createHmac, hash, timingSafeEqual, type KeyObject } from 'node:crypto';

// Hashes here are one-shot (crypto.hash, Node 20.12+): no Hash object and stream per call, which
// mattered on the per-request paths (the API key, a signed request's body; issue 5).

/**
 * A key used for many HMACs is best made a KeyObject once (createSecretKey). Never pass a Buffer
 * on a hot path: from Node 24.21 on that costs ~15 µs an HMAC against ~3 (src/otp/totp.ts).
 */
export function hmacSha256(key: string | Buffer | KeyObject, message: string | Buffer): Buffer {
  return createHmac('sha256', key).update(message).digest();
}

export function hmacSha256Hex(key: string | Buffer, message: string | Buffer): string {
  return hmacSha256(key, message).toString('hex');
}

export function sha256Hex(data: string | Buffer): string {
  return hash('sha256', data, 'hex');
}

/**
 * Whether `given` equals `secret`, with timingSafeEqual over the secret's bytes: a given value of
 * another length is compared as the secret against itself (the same work) and fails, so neither
 * the position of a difference nor the secret's length shows in the timing. ~0.25 µs, where
 * hashing the given value to compare digests cost ~1.4 µs on every request (issue 5).
 */
export function constantTimeEqual(given: string, secret: Buffer): boolean {
  const g = Buffer.from(given, 'utf8');
  const sameLength = g.length === secret.length;
  return timingSafeEqual(sameLength ? g : secret, secret) && sameLength;
}

import { createHmac, hash, timingSafeEqual } from 'node:crypto';

// Hashes here are one-shot (crypto.hash, Node 20.12+): no Hash object and stream per call, which
// mattered on the per-request paths (the API key, a signed request's body; issue 5).

export function hmacSha256(key: string | Buffer, message: string | Buffer): Buffer {
  return createHmac('sha256', key).update(message).digest();
}

export function hmacSha256Hex(key: string | Buffer, message: string | Buffer): string {
  return hmacSha256(key, message).toString('hex');
}

export function sha256Hex(data: string | Buffer): string {
  return hash('sha256', data, 'hex');
}

export function sha256(data: string | Buffer): Buffer {
  return hash('sha256', data, 'buffer');
}

/**
 * Constant-time comparison of a given value with a secret known by its sha256 digest. The given
 * side is hashed first, so neither its length nor the position of the first difference shows in
 * the timing.
 */
export function safeEqualToDigest(a: string | Buffer, bDigest: Buffer): boolean {
  return timingSafeEqual(sha256(a), bDigest);
}

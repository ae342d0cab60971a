import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export function hmacSha256Hex(key: string | Buffer, message: string | Buffer): string {
  return createHmac('sha256', key).update(message).digest('hex');
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Constant-time string comparison. Both sides are hashed first so that neither the length nor
 * the position of the first difference shows in the timing.
 */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export function sha256(data: string | Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** As safeEqual, with the second side hashed (sha256) once beforehand: a configured secret. */
export function safeEqualToDigest(a: string | Buffer, bDigest: Buffer): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), bDigest);
}

import { createHmac, createSecretKey, KeyObject, timingSafeEqual } from 'node:crypto';

// Pure HOTP/TOTP (RFC 4226, RFC 6238): the time is always an argument, never read here.

export type Algorithm = 'SHA1' | 'SHA256' | 'SHA512';
export const ALGORITHMS: readonly Algorithm[] = ['SHA1', 'SHA256', 'SHA512'];
export const DIGITS = [6, 8] as const;
export const PERIODS = [15, 30, 60] as const;

export type OtpParams = { algorithm: Algorithm; digits: number; period: number };
export const DEFAULT_PARAMS: OtpParams = Object.freeze({ algorithm: 'SHA1', digits: 6, period: 30 });

const HMAC_NAMES: Record<Algorithm, string> = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };

/**
 * RFC 4226 section 5.3: HMAC of the 8-byte big-endian counter, dynamic truncation, modulo
 * 10^digits. node:crypto directly (issue 5: otpauth's HOTP.generate builds a Secret and copies
 * the key on every call, ~2x the cost); test/otp checks it against the RFC vectors, otpauth and
 * oathtool.
 */
export function hotp(secret: Buffer | KeyObject, counter: number, algorithm: Algorithm = 'SHA1', digits = 6): string {
  const message = Buffer.allocUnsafe(8);
  message.writeUInt32BE(Math.floor(counter / 0x1_0000_0000), 0);
  message.writeUInt32BE(counter >>> 0, 4);
  const key = secret instanceof KeyObject ? secret : createSecretKey(secret); // see windowCodes
  const mac = createHmac(HMAC_NAMES[algorithm], key).update(message).digest();
  const offset = (mac[mac.length - 1] as number) & 0x0f;
  const binary = (mac.readUInt32BE(offset) & 0x7fff_ffff) % 10 ** digits;
  return binary.toString().padStart(digits, '0');
}

/** The RFC 6238 time step (T0 = 0) that contains `timeMs`. */
export function timeStep(timeMs: number, period: number): number {
  return Math.floor(timeMs / 1000 / period);
}

export function totp(secret: Buffer, params: OtpParams, timeMs: number): string {
  return hotp(secret, timeStep(timeMs, params.period), params.algorithm, params.digits);
}

/** Whole seconds left in the step that contains `timeMs`: 1 to period. */
export function secondsRemaining(timeMs: number, period: number): number {
  return period - (Math.floor(timeMs / 1000) % period);
}

export function isWellFormedCode(code: unknown, digits: number): code is string {
  return typeof code === 'string' && code.length === digits && /^[0-9]+$/.test(code);
}

/**
 * The index of `code` among `candidates`, or null. Every candidate is compared in constant time
 * and none is skipped, so the timing does not tell which one matched (index 0 is a match).
 */
export function indexOfCode(candidates: readonly string[], code: string): number | null {
  const given = Buffer.from(code);
  let found: number | null = null;
  candidates.forEach((expected, i) => {
    const e = Buffer.from(expected);
    if (e.length === given.length && timingSafeEqual(e, given) && found === null) found = i;
  });
  return found;
}

/**
 * The codes of the steps `window` either side of the one containing `timeMs`, oldest first.
 *
 * Their HMACs share one KeyObject: from Node 24.21 on, createHmac with a Buffer key lets two of
 * node:crypto's internal brand checks throw, ~15 µs an HMAC against ~3 with a KeyObject (issue
 * 5: a window of three made POST /totp/verify ~45 µs dearer). On Node 20 the KeyObject costs
 * ~2.5 µs more for the window.
 */
export function windowCodes(secret: Buffer, params: OtpParams, timeMs: number, window: number): string[] {
  const now = timeStep(timeMs, params.period);
  const key = createSecretKey(secret);
  const codes: string[] = [];
  for (let step = now - window; step <= now + window; step++) codes.push(hotp(key, step, params.algorithm, params.digits));
  return codes;
}

/**
 * Finds the time step, within `window` steps either side of now, whose code is `code`, or null
 * (a step of 0 is a match, not a miss).
 */
export function matchStep(secret: Buffer, params: OtpParams, code: string, timeMs: number, window: number): number | null {
  if (!isWellFormedCode(code, params.digits)) return null;
  const i = indexOfCode(windowCodes(secret, params, timeMs, window), code);
  return i === null ? null : timeStep(timeMs, params.period) - window + i;
}

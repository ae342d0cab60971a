import { Secret } from 'otpauth';

// What POST /decrypt-seed accepts as plaintext (API.md): 64 hex characters, whose bytes are the
// HMAC key, or an RFC 4648 base32 secret of at least 128 bits.

const MIN_SECRET_BYTES = 16;

export function parseSeed(plaintext: Buffer): Buffer | null {
  const text = plaintext.toString('utf8').trim();
  // Anything made only of hex digits is read as hex, and must then be the full 64 characters: a
  // 40-character hex key must not be silently taken for a (different) base32 secret.
  if (/^[0-9a-fA-F]+$/.test(text)) return text.length === 64 ? Buffer.from(text, 'hex') : null;
  const b32 = text.replace(/[\s-]/g, '').replace(/=+$/, '').toUpperCase();
  if (!/^[A-Z2-7]+$/.test(b32)) return null;
  if (Math.floor((b32.length * 5) / 8) < MIN_SECRET_BYTES) return null;
  try {
    return Buffer.from(Secret.fromBase32(b32).bytes);
  } catch {
    return null;
  }
}

/** otpauth wants an ArrayBuffer of exactly the key's bytes (a Buffer may be a pooled slice). */
function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

export function toBase32(secret: Buffer): string {
  return new Secret({ buffer: toArrayBuffer(secret) }).base32.replace(/=+$/, '');
}

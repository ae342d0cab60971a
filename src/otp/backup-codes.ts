import { randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { randomString } from '../crypto/random.js';

// Backup codes: shown once, then kept only as salted scrypt hashes. Each code is 10 symbols of
// Crockford's base32 (50 bits from a CSPRNG, above the 40 API.md asks for), shown as
// "xxxxx-xxxxx". Input is normalised the Crockford way (case, dashes and spaces ignored; O reads
// as 0, I and L as 1), so a code copied from paper by a person still matches.
//
// One random salt per generated set (not per code): verification then costs ONE slow hash,
// whose result is looked up among the set's unused rows, instead of one scrypt per stored code.

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const BACKUP_CODE_LENGTH = 10;
export const BACKUP_CODE_BITS = BACKUP_CODE_LENGTH * Math.log2(ALPHABET.length);
const SALT_BYTES = 16;
const HASH_BYTES = 32;
// RFC 7914 section 2 parameters; 16 MiB of memory per hash, well under Node's 32 MiB default cap.
const SCRYPT: ScryptOptions = { N: 2 ** 14, r: 8, p: 1 };

export function newBackupCode(): string {
  const raw = randomString(BACKUP_CODE_LENGTH, ALPHABET).toLowerCase();
  return `${raw.slice(0, 5)}-${raw.slice(5)}`;
}

export function newBackupCodeSalt(): Buffer {
  return randomBytes(SALT_BYTES);
}

/** The canonical form of what a user typed, or null if it cannot be a backup code. */
export function normalizeBackupCode(input: string): string | null {
  if (input.length > 32) return null;
  const s = input
    .replace(/[\s-]/g, '')
    .toUpperCase()
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
  if (s.length !== BACKUP_CODE_LENGTH) return null;
  for (const c of s) if (!ALPHABET.includes(c)) return null;
  return s;
}

/** scrypt of a normalised code under the set's salt. */
export function hashBackupCode(normalized: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(normalized, salt, HASH_BYTES, SCRYPT, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

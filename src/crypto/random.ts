import { randomBytes, randomInt } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function randomSecret(bytes = 20): Buffer {
  return randomBytes(bytes);
}

/** A string of `length` characters from `alphabet`, each drawn uniformly from a CSPRNG. */
export function randomString(length: number, alphabet: string): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

export function randomDigits(length: number): string {
  return randomString(length, '0123456789');
}

export function randomBase32(length: number): string {
  return randomString(length, BASE32);
}

export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('hex');
}

import type { CredentialKind } from '../db/types.js';

/**
 * The AES-GCM additional data a TOTP secret is sealed with: it binds the ciphertext to its
 * owner, so a sealed secret copied onto another user's row (or the service's) does not open.
 * Sealing (enrolment, the seed) and re-sealing (npm run rotate-keys) must use this one rule.
 */
export function credentialAad(kind: CredentialKind, userId: string | null): string {
  if (kind === 'service') return 'totp-credential:service';
  if (!userId) throw new Error('a user credential needs its user id');
  return `totp-credential:user:${userId}`;
}

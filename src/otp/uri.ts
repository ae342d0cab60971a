import type { OtpParams } from './totp.js';
import { toBase32 } from './seed-format.js';

/**
 * The Key URI format (Google Authenticator wiki, as API.md fixes it): issuer in the label and
 * the parameter, percent-encoded (spaces as %20), secret in unpadded base32.
 */
export function provisioningUri(issuer: string, account: string, secret: Buffer, params: OtpParams): string {
  if (issuer.includes(':') || account.includes(':')) throw new Error('issuer and account may not contain ":"');
  const enc = encodeURIComponent;
  const query = [
    `secret=${toBase32(secret)}`,
    `issuer=${enc(issuer)}`,
    `algorithm=${params.algorithm}`,
    `digits=${params.digits}`,
    `period=${params.period}`,
  ].join('&');
  return `otpauth://totp/${enc(issuer)}:${enc(account)}?${query}`;
}

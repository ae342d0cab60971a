import { randomBytes } from 'node:crypto';
import { hmacSha256Hex, sha256Hex } from '../src/crypto/hmac.js';
import { canonicalString } from '../src/services/signature-service.js';
import { DEFAULT_PARAMS, timeStep, totp } from '../src/otp/totp.js';
import type { Scenario } from './load.js';

// The routes of the RPA flow, as autocannon scenarios. Codes and signatures are computed by
// the load generator per request from the seed and the key it gave the service, so every
// request is one a real client could send at that moment.

export type RpaContext = {
  apiKey: string;
  hmacSecret: string;
  /** The service seed's HMAC key (what the bench sent, encrypted, to POST /decrypt-seed). */
  seed: Buffer;
  /** One RSA-OAEP ciphertext of that seed, from openssl pkeyutl. */
  encryptedSeed: string;
  totpWindow: number;
};

/** The current code, and a well-formed code that matches no step in the window, cached per step. */
export function codeSource(secret: Buffer, window: number) {
  let step = -1;
  let valid = '';
  let invalid = '';
  const refresh = () => {
    const now = Date.now();
    const s = timeStep(now, DEFAULT_PARAMS.period);
    if (s === step) return;
    step = s;
    valid = totp(secret, DEFAULT_PARAMS, now);
    const accepted = new Set<string>();
    for (let d = -window - 1; d <= window + 1; d++) accepted.add(totp(secret, DEFAULT_PARAMS, now + d * DEFAULT_PARAMS.period * 1000));
    let n = Number.parseInt(valid, 10);
    do n = (n + 500_009) % 1_000_000;
    while (accepted.has(String(n).padStart(6, '0')));
    invalid = String(n).padStart(6, '0');
  };
  return {
    valid: () => (refresh(), valid),
    invalid: () => (refresh(), invalid),
  };
}

const validity = (status: number, body: string) => (status !== 200 ? `status_${status}` : body.includes('"valid":true') ? 'valid_true' : 'valid_false');

export function rpaScenarios(c: RpaContext): { generate: Scenario; verifyInvalid: Scenario; verifyValid: Scenario; otpSecure: Scenario; decryptSeed: Scenario } {
  const key = { 'x-api-key': c.apiKey };
  const codes = codeSource(c.seed, c.totpWindow);
  // A signature covers the path with its query, so a counter in the query makes each one unique
  // within a second (the route ignores the query); the run prefix keeps runs apart.
  const run = randomBytes(4).toString('hex');
  let counter = 0;
  const emptyBody = sha256Hex('');
  return {
    generate: {
      key: 'generate_2fa',
      label: 'GET /generate-2fa',
      method: 'GET',
      path: '/generate-2fa',
      headers: key,
      expect: [200],
    },
    verifyInvalid: {
      key: 'verify_2fa_invalid',
      label: 'POST /verify-2fa (invalid code)',
      method: 'POST',
      path: '/verify-2fa',
      headers: key,
      body: JSON.stringify({ code: '000000' }),
      perRequest: () => ({ body: `{"code":"${codes.invalid()}"}` }),
      expect: [200],
      classify: validity,
      note: 'a well-formed code outside the window: the full HMAC check, then an audit row',
    },
    verifyValid: {
      key: 'verify_2fa_valid',
      label: 'POST /verify-2fa (valid code)',
      method: 'POST',
      path: '/verify-2fa',
      headers: key,
      body: JSON.stringify({ code: '000000' }),
      perRequest: () => ({ body: `{"code":"${codes.valid()}"}` }),
      expect: [200],
      classify: validity,
      note: 'the current code; accepted once per time step, every later one is a replay refused by the database claim',
    },
    otpSecure: {
      key: 'otp_secure_signed',
      label: 'GET /otp/secure (signed)',
      method: 'GET',
      path: '/otp/secure',
      headers: key,
      perRequest: () => {
        const path = `/otp/secure?n=${run}-${counter++}`;
        const timestamp = String(Math.floor(Date.now() / 1000));
        const signature = hmacSha256Hex(c.hmacSecret, canonicalString({ timestamp, method: 'GET', pathWithQuery: path, bodySha256Hex: emptyBody }));
        return { path, headers: { 'x-timestamp': timestamp, 'x-signature': signature } };
      },
      expect: [200],
      note: 'a fresh HMAC-SHA256 signature per request, each claimed once in SQLite',
    },
    decryptSeed: {
      key: 'decrypt_seed',
      label: 'POST /decrypt-seed',
      method: 'POST',
      path: '/decrypt-seed',
      headers: key,
      body: JSON.stringify({ encrypted_seed: c.encryptedSeed }),
      expect: [200],
      note: 'RSA-4096 OAEP private decryption, then the seed sealed and replaced in one transaction',
    },
  };
}

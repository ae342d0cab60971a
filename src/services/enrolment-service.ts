import type { Clock } from '../clock.js';
import type { KeyRing } from '../crypto/aes-gcm.js';
import { randomSecret } from '../crypto/random.js';
import type { Store } from '../db/types.js';
import { AppError } from '../errors.js';
import { qrDataUrl } from '../otp/qr.js';
import { toBase32 } from '../otp/seed-format.js';
import { DEFAULT_PARAMS, type OtpParams } from '../otp/totp.js';
import { provisioningUri } from '../otp/uri.js';
import type { RequestContext } from './context.js';
import { credentialAad } from './credential-aad.js';

// TOTP enrolment of a user (API.md "Users"): a new 160-bit secret from the CSPRNG, sealed under
// the newest data key, pending until the first code verifies (user-totp.ts activates it).

/** RFC 4226 section 4 asks for at least 128 bits; API.md for 160. */
const SECRET_BYTES = 20;

export type Enrolment = {
  userId: string;
  createdAt: number;
  /** base32, unpadded: shown to the caller of /totp/setup once, and inside the URI. */
  secretBase32: string;
  provisioningUri: string;
  qrCodeDataUrl: string;
};

export type EnrolmentServiceDeps = { store: Store; keyRing: KeyRing; clock: Clock; issuer: string };

export const alreadyEnrolled = () =>
  new AppError(409, 'ALREADY_ENROLLED', 'This user already has an active TOTP enrolment; disable or recover it first');

export function createEnrolmentService(deps: EnrolmentServiceDeps) {
  const { store, keyRing, clock } = deps;
  if (deps.issuer.includes(':')) throw new Error('TOTP_ISSUER may not contain ":" (the Key URI format forbids it)');

  return {
    async enrol(userId: string, opts: { issuer?: string | undefined; params?: Partial<OtpParams> }, ctx: RequestContext): Promise<Enrolment> {
      const params: OtpParams = { ...DEFAULT_PARAMS, ...stripUndefined(opts.params ?? {}) };
      const issuer = opts.issuer ?? deps.issuer;
      const secret = randomSecret(SECRET_BYTES);
      try {
        // Everything the answer needs is built before the write: nothing can fail after it,
        // so a refused enrolment never leaves a secret stored that no client was shown.
        const uri = provisioningUri(issuer, userId, secret, params);
        const qrCodeDataUrl = await qrDataUrl(uri);
        const sealed = keyRing.seal(secret, credentialAad('user', userId));
        const now = clock.now();
        const r = await store.userCredentials.enrol(
          userId,
          { secretBlob: sealed.blob, keyId: sealed.keyId, ...params },
          now,
          { userId, event: 'enrolment.create', success: true, ip: ctx.ip, at: now },
        );
        if (r.outcome === 'already_active') throw alreadyEnrolled();
        return { userId, createdAt: r.credential.createdAt, secretBase32: toBase32(secret), provisioningUri: uri, qrCodeDataUrl };
      } finally {
        secret.fill(0);
      }
    },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export type EnrolmentService = ReturnType<typeof createEnrolmentService>;

import { constants, createHash, createPrivateKey, createPublicKey, privateDecrypt, type KeyObject } from 'node:crypto';

// RSA-OAEP with SHA-256 for both the OAEP hash and MGF1 (what `openssl pkeyutl -pkeyopt
// rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256` produces). Node sets MGF1 to the OAEP hash.

export function decryptOaepSha256(privateKey: KeyObject, ciphertext: Buffer): Buffer {
  return privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, ciphertext);
}

export type RsaKeyPair = { privateKey: KeyObject; publicKeyPem: string; bits: number };

/** Parses a PEM private key; the public PEM, when given, must be its public half. */
export function loadRsaKeyPair(privatePem: string | Buffer, publicPem?: string | Buffer): RsaKeyPair {
  const privateKey = createPrivateKey(privatePem);
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Error('the private key is not an RSA key');
  const derived = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  if (publicPem !== undefined) {
    const given = createPublicKey(publicPem).export({ type: 'spki', format: 'pem' }).toString();
    if (given !== derived) throw new Error('the public key does not belong to the private key');
  }
  return { privateKey, publicKeyPem: derived, bits: privateKey.asymmetricKeyDetails?.modulusLength ?? 0 };
}

export type RsaEncryptionJwk = { kty: 'RSA'; use: 'enc'; alg: 'RSA-OAEP-256'; kid: string; n: string; e: string };

/**
 * The public key as a JWK (RFC 7517) for encryption with RSA-OAEP-256 (RFC 7518 section 4.3:
 * SHA-256 and MGF1-SHA-256, the same padding as decryptOaepSha256). `kid` is the RFC 7638
 * thumbprint, so it changes exactly when the key does.
 */
export function publicJwk(publicKeyPem: string): RsaEncryptionJwk {
  const { n, e } = createPublicKey(publicKeyPem).export({ format: 'jwk' }) as { n: string; e: string };
  const kid = createHash('sha256').update(JSON.stringify({ e, kty: 'RSA', n })).digest('base64url');
  return { kty: 'RSA', use: 'enc', alg: 'RSA-OAEP-256', kid, n, e };
}

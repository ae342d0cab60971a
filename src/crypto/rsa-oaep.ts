import { constants, createPrivateKey, createPublicKey, privateDecrypt, type KeyObject } from 'node:crypto';

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

import { createHash, createPrivateKey, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { concurrencyLimit } from '../concurrency-limit.js';

// RSA-OAEP with SHA-256 for both the OAEP hash and MGF1 (what `openssl pkeyutl -pkeyopt
// rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256` produces; WebCrypto's RSA-OAEP always uses
// the OAEP hash for MGF1), with an empty label.
//
// An RSA-4096 private decryption costs 2-5 ms of CPU: on the event loop, every other request
// would wait behind it. WebCrypto's decrypt runs on libuv's thread pool instead, so the event
// loop stays free and no thread or V8 isolate of ours has to be kept (issue 5: two worker
// threads used to cost each process that had decrypted a seed ~18 MB of RSS on Node 20 and
// ~27 MB on Node 24).
//
// Node lets one thread at a time use a given CryptoKey (each key holds a lock while it
// decrypts), so the key is imported once per decryption allowed to run at once. At most
// DECRYPTIONS_AT_ONCE run at once; the rest wait here, not in libuv's queue, so a burst of
// seeds never holds every pool thread: backup-code hashes and file I/O keep the others.

/** One per core, and at most two: libuv's pool has 4 threads unless UV_THREADPOOL_SIZE says otherwise. */
export const DECRYPTIONS_AT_ONCE = Math.min(availableParallelism(), 2);
const decryptions = concurrencyLimit(DECRYPTIONS_AT_ONCE);

const OAEP_SHA256 = { name: 'RSA-OAEP', hash: 'SHA-256' } as const;

/** Each key's copies not in use right now (imported on first use). */
const freeCopiesOf = new WeakMap<KeyObject, Promise<webcrypto.CryptoKey[]>>();

async function importCopies(privateKey: KeyObject): Promise<webcrypto.CryptoKey[]> {
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  try {
    const keys: webcrypto.CryptoKey[] = [];
    for (let i = 0; i < DECRYPTIONS_AT_ONCE; i++) {
      keys.push(await webcrypto.subtle.importKey('pkcs8', der, OAEP_SHA256, false, ['decrypt']));
    }
    return keys;
  } finally {
    der.fill(0);
  }
}

/**
 * Runs `use` with a copy of the key that no other decryption holds: never two on one copy while
 * another copy idles. Under the limit, no more decryptions run than there are copies, so one is
 * always free.
 */
async function withFreeCopy<T>(privateKey: KeyObject, use: (key: webcrypto.CryptoKey) => Promise<T>): Promise<T> {
  let pending = freeCopiesOf.get(privateKey);
  if (!pending) {
    pending = importCopies(privateKey);
    freeCopiesOf.set(privateKey, pending);
    // A failed import is not kept: the next call tries again.
    pending.catch(() => freeCopiesOf.delete(privateKey));
  }
  const free = await pending;
  const key = free.pop();
  if (!key) throw new Error('no free copy of the key');
  try {
    return await use(key);
  } finally {
    free.push(key);
  }
}

/**
 * Decrypts off the event loop. Rejects with a bare "decryption failed" on any failure (wrong
 * key, padding, length): no detail that could serve as a padding oracle.
 */
export function decryptOaepSha256(privateKey: KeyObject, ciphertext: Buffer): Promise<Buffer> {
  return decryptions(async () => {
    try {
      return await withFreeCopy(privateKey, async (key) => Buffer.from(await webcrypto.subtle.decrypt(OAEP_SHA256, key, ciphertext)));
    } catch {
      throw new Error('decryption failed');
    }
  });
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

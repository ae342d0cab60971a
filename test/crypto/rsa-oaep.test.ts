import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { DECRYPTIONS_AT_ONCE, decryptOaepSha256 } from '../../src/crypto/rsa-oaep.js';
import { opensslEncrypt } from '../helpers/app.js';

// The decryption POST /decrypt-seed uses (issue 5: off the event loop, on libuv's thread pool,
// with no worker thread of ours): what openssl encrypts comes back byte for byte, failures
// carry no detail, and the event loop is free while a decryption runs.

describe('RSA-OAEP decryption', () => {
  const keysDir = inject('keysDir');
  const key = createPrivateKey(readFileSync(join(keysDir, 'private_key.pem')));
  const publicKeyPath = join(keysDir, 'public_key.pem');

  it('decrypts what openssl pkeyutl encrypts (OAEP, SHA-256, MGF1-SHA-256), many at once', async () => {
    const seeds = Array.from({ length: 6 }, (_, i) => `${i}`.repeat(64));
    const cts = seeds.map((s) => Buffer.from(opensslEncrypt(s, publicKeyPath), 'base64'));
    const out = await Promise.all(cts.map((ct) => decryptOaepSha256(key, ct)));
    expect(out.map((b) => b.toString('utf8'))).toEqual(seeds);
  });

  it('rejects what does not decrypt, without detail, and keeps working', async () => {
    const ct = Buffer.from(opensslEncrypt('a'.repeat(64), publicKeyPath), 'base64');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const tampered = Buffer.from(ct);
    tampered[100]! ^= 1;
    for (const [k, c] of [
      [key, Buffer.alloc(512, 1)], // not an OAEP block
      [key, tampered], // one bit changed
      [key, ct.subarray(1)], // one byte short
      [other, ct], // another key
    ] as const) {
      await expect(decryptOaepSha256(k, c)).rejects.toThrow(/^decryption failed$/);
    }
    expect((await decryptOaepSha256(key, ct)).toString()).toBe('a'.repeat(64));
  });

  it('leaves the event loop free while it decrypts', async () => {
    const ct = Buffer.from(opensslEncrypt('b'.repeat(64), publicKeyPath), 'base64');
    await decryptOaepSha256(key, ct); // the key's copies are imported on first use
    let resolved = 0;
    const jobs = Array.from({ length: 8 }, () => decryptOaepSha256(key, ct).then(() => resolved++));
    // Run synchronously, eight RSA-4096 decryptions would all be done before this callback.
    const seenByImmediate = await new Promise<number>((r) => setImmediate(() => r(resolved)));
    await Promise.all(jobs);
    expect(seenByImmediate).toBeLessThan(8);
  });

  it('runs no more decryptions at once than it allows, however many are asked for, each on its own copy of the key', async () => {
    // libuv's pool is shared with scrypt (backup codes) and file I/O: a burst of seeds must not
    // take all of it. And Node lets one thread at a time use a CryptoKey, so two decryptions on
    // one copy would run one after the other. Counted at the WebCrypto call itself.
    const { webcrypto } = await import('node:crypto');
    const real = webcrypto.subtle.decrypt.bind(webcrypto.subtle);
    const inUse = new Set<unknown>();
    let most = 0;
    let shared = 0;
    const spy = async (...args: Parameters<typeof real>) => {
      const copy = args[1];
      if (inUse.has(copy)) shared++;
      inUse.add(copy);
      most = Math.max(most, inUse.size);
      try {
        return await real(...args);
      } finally {
        inUse.delete(copy);
      }
    };
    const ct = Buffer.from(opensslEncrypt('c'.repeat(64), publicKeyPath), 'base64');
    const original = webcrypto.subtle.decrypt;
    webcrypto.subtle.decrypt = spy as typeof original;
    try {
      const out = await Promise.all(Array.from({ length: 40 }, () => decryptOaepSha256(key, ct)));
      expect(out.every((b) => b.toString() === 'c'.repeat(64))).toBe(true);
    } finally {
      webcrypto.subtle.decrypt = original;
    }
    expect(DECRYPTIONS_AT_ONCE).toBeGreaterThanOrEqual(1);
    expect(DECRYPTIONS_AT_ONCE).toBeLessThanOrEqual(2);
    expect(most).toBe(DECRYPTIONS_AT_ONCE);
    expect(shared).toBe(0);
  });
});

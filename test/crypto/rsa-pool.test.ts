import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createRsaDecryptPool } from '../../src/crypto/rsa-pool.js';
import { opensslEncrypt } from '../helpers/app.js';

// The worker-thread pool that POST /decrypt-seed decrypts with (issue 5): what openssl
// encrypts comes back byte for byte, failures carry no detail, and the event loop is free
// while a decryption runs.

describe('RSA-OAEP decryption pool', () => {
  const keysDir = inject('keysDir');
  const key = createPrivateKey(readFileSync(join(keysDir, 'private_key.pem')));
  const publicKeyPath = join(keysDir, 'public_key.pem');
  const pool = createRsaDecryptPool(2);
  afterAll(() => pool.close());

  it('decrypts what openssl pkeyutl encrypts (OAEP, SHA-256, MGF1-SHA-256), many at once', async () => {
    const seeds = Array.from({ length: 6 }, (_, i) => `${i}`.repeat(64));
    const cts = seeds.map((s) => Buffer.from(opensslEncrypt(s, publicKeyPath), 'base64'));
    const out = await Promise.all(cts.map((ct) => pool.decrypt(key, ct)));
    expect(out.map((b) => b.toString('utf8'))).toEqual(seeds);
  });

  it('rejects a ciphertext that does not decrypt, without detail, and keeps working', async () => {
    await expect(pool.decrypt(key, Buffer.alloc(512, 1))).rejects.toThrow(/^decryption failed$/);
    const ct = Buffer.from(opensslEncrypt('a'.repeat(64), publicKeyPath), 'base64');
    expect((await pool.decrypt(key, ct)).toString()).toBe('a'.repeat(64));
  });

  it('leaves the event loop free while it decrypts', async () => {
    const ct = Buffer.from(opensslEncrypt('b'.repeat(64), publicKeyPath), 'base64');
    let resolved = 0;
    const jobs = Array.from({ length: 8 }, () => pool.decrypt(key, ct).then(() => resolved++));
    // Run synchronously, eight RSA-4096 decryptions would all be done before this callback.
    const seenByImmediate = await new Promise<number>((r) => setImmediate(() => r(resolved)));
    await Promise.all(jobs);
    expect(seenByImmediate).toBeLessThan(8);
  });

  it('refuses work once closed', async () => {
    const p = createRsaDecryptPool(1);
    await p.close();
    await expect(p.decrypt(key, Buffer.alloc(512))).rejects.toThrow(/closed/);
  });
});

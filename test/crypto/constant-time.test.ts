import { expect, it } from 'vitest';
import { constantTimeEqual } from '../../src/crypto/hmac.js';

// The API key check (src/http/plugins/auth.ts): only the exact key passes.
it('accepts exactly the secret and nothing near it', () => {
  const secret = 'k3y-0123456789-abcdefghijklmnopqrstuvwxyzAB';
  const key = Buffer.from(secret);
  expect(constantTimeEqual(secret, key)).toBe(true);
  for (let i = 0; i < secret.length; i++) {
    const changed = secret.slice(0, i) + (secret[i] === 'x' ? 'y' : 'x') + secret.slice(i + 1);
    expect(constantTimeEqual(changed, key)).toBe(false);
  }
  for (const given of ['', secret.slice(0, -1), `${secret}x`, secret.slice(1), `${secret}${secret}`, secret.toUpperCase(), 'ķ'.repeat(secret.length)]) {
    expect(constantTimeEqual(given, key)).toBe(false);
  }
  // Characters beyond Latin-1 compare in full too.
  expect(constantTimeEqual('ā', Buffer.from('ā'))).toBe(true);
  expect(constantTimeEqual('ā', Buffer.from('a'))).toBe(false);
  expect(constantTimeEqual('Ä', Buffer.from([0xc4]))).toBe(false);
});

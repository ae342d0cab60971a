import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { HOTP, Secret } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { hotp, matchStep, totp, type Algorithm } from '../../src/otp/totp.js';

// The RFC test vectors, read from the shared copies so a typo here cannot make them pass.
const root = new URL('../../../shared/vectors/', import.meta.url);
const rfc6238 = JSON.parse(readFileSync(new URL('rfc6238.json', root), 'utf8')) as {
  vectors: { time: number; algorithm: Algorithm; secret_hex: string; digits: number; code: string }[];
};
const rfc4226 = JSON.parse(readFileSync(new URL('rfc4226.json', root), 'utf8')) as {
  secret_ascii: string;
  vectors: { counter: number; code: string }[];
};

describe('RFC 4226 appendix D', () => {
  it.each(rfc4226.vectors)('counter $counter gives $code', ({ counter, code }) => {
    expect(hotp(Buffer.from(rfc4226.secret_ascii, 'ascii'), counter)).toBe(code);
  });
});

describe('hotp (node:crypto) against otpauth', () => {
  it('agrees for every algorithm, 6 and 8 digits, random keys and counters, above 2^32 too', () => {
    const counters = [0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER];
    for (let i = 0; i < 200; i++) counters.push(randomInt(0, 2 ** 48 - 1));
    for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const) {
      for (const digits of [6, 8]) {
        for (const counter of counters) {
          const key = randomBytes(algorithm === 'SHA1' ? 20 : algorithm === 'SHA256' ? 32 : 64);
          const expected = HOTP.generate({ secret: new Secret({ buffer: new Uint8Array(key).buffer }), algorithm, digits, counter });
          expect(hotp(key, counter, algorithm, digits), `${algorithm}/${digits}/${counter}`).toBe(expected);
        }
      }
    }
  });
});

describe('RFC 6238 appendix B', () => {
  it('has every vector', () => expect(rfc6238.vectors).toHaveLength(18));

  it.each(rfc6238.vectors)('$algorithm at $time gives $code', ({ time, algorithm, secret_hex, digits, code }) => {
    const secret = Buffer.from(secret_hex, 'hex');
    const params = { algorithm, digits, period: 30 };
    expect(totp(secret, params, time * 1000)).toBe(code);
    // and the verifier finds it in the current step, not a neighbour
    expect(matchStep(secret, params, code, time * 1000, 1)).toBe(Math.floor(time / 30));
  });
});

describe('matchStep', () => {
  const secret = Buffer.from('12345678901234567890');
  const p = { algorithm: 'SHA1' as const, digits: 6, period: 30 };
  const t = 1_700_000_000_000;

  it('returns the step of a neighbouring code within the window and null outside it', () => {
    const now = Math.floor(t / 30_000);
    for (const d of [-1, 0, 1]) expect(matchStep(secret, p, hotp(secret, now + d), t, 1)).toBe(now + d);
    for (const d of [-2, 2]) expect(matchStep(secret, p, hotp(secret, now + d), t, 1)).toBeNull();
    expect(matchStep(secret, p, hotp(secret, now + 1), t, 0)).toBeNull();
  });

  it('refuses anything that is not exactly `digits` ASCII digits', () => {
    const code = totp(secret, p, t);
    for (const bad of [`${code}0`, code.slice(1), ` ${code.slice(1)}`, '１２３４５６', '12345a', '']) {
      expect(matchStep(secret, p, bad, t, 1)).toBeNull();
    }
  });
});

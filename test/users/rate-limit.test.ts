import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { rateLimitKey } from '../../src/http/plugins/rate-limit.js';
import { enrol, userRow } from './helpers.js';

// Per client address, the verification routes are rate limited (API.md), in the error format.

describe('rate limit of the verification routes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_SECONDS: '60', LOCKOUT_THRESHOLD: '100' } });
    await enrol(t, 'alice');
  });
  afterAll(() => t.close());

  const post = (url: string, payload: object, ip: string) => t.app.inject({ method: 'POST', url, headers: t.auth, payload, remoteAddress: ip });

  it('the 4th verification from one address in a window is 429 RATE_LIMITED with Retry-After, checked before anything', async () => {
    expect((await post('/totp/verify', { username: 'alice', otp: '000000' }, '10.0.0.1')).statusCode).toBe(401);
    expect((await post('/verify', { username: 'alice', otp_code: '000000' }, '10.0.0.1')).statusCode).toBe(401);
    expect((await post('/disable', { user_id: 'alice' }, '10.0.0.1')).statusCode).toBe(200);
    const before = userRow(t, 'alice');
    for (const [url, payload] of [
      ['/totp/verify', { username: 'alice', otp: '000000' }],
      ['/verify', { username: 'alice', otp_code: '000000' }],
      ['/enable', { user_id: 'alice', code: '000000' }],
      ['/disable', { user_id: 'alice' }],
      ['/backup-codes/verify', { user_id: 'alice', code: 'aaaaa-bbbbb' }],
      ['/challenge/verify', { challenge_id: 'x', code: '000000' }],
    ] as const) {
      const r = await post(url, payload, '10.0.0.1');
      expect(r.statusCode, url).toBe(429);
      expect(r.json()).toEqual({ error: expect.any(String), code: 'RATE_LIMITED' });
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    // Refused before the lockout was charged.
    expect(userRow(t, 'alice')).toEqual(before);
  });

  it('another address is not limited, nor are the other routes', async () => {
    expect((await post('/totp/verify', { username: 'alice', otp: '000000' }, '10.0.0.2')).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/status/alice', headers: t.auth, remoteAddress: '10.0.0.1' })).statusCode).toBe(200);
    expect((await post('/generate', { username: 'alice' }, '10.0.0.1')).statusCode).toBe(201);
  });

  it('the next window lets the address in again', async () => {
    t.clock.advance(60_000);
    expect((await post('/totp/verify', { username: 'alice', otp: '000000' }, '10.0.0.1')).statusCode).toBe(401);
  });
});

describe('the rate limit counts an IPv6 client by its network', () => {
  let t: TestApp;
  afterAll(() => t?.close());

  const attempt = (ip: string) =>
    t.app.inject({ method: 'POST', url: '/totp/verify', headers: t.auth, payload: { username: 'alice', otp: '000000' }, remoteAddress: ip });
  const statuses = async (ips: string[]) => {
    const out: number[] = [];
    for (const ip of ips) out.push((await attempt(ip)).statusCode);
    return out;
  };

  it('by default one /56: new addresses in it do not open new buckets, another /56 has its own', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '2', LOCKOUT_THRESHOLD: '100' } });
    await enrol(t, 'alice');
    // Three addresses of one subscriber's /64, and one more of the same /56 (another /64).
    expect(await statuses(['2001:db8:1:200::10', '2001:db8:1:200::11', '2001:db8:1:200:ffff::1', '2001:db8:1:2ff::1'])).toEqual([401, 401, 429, 429]);
    // 2001:db8:1:300::/56 is another network.
    expect(await statuses(['2001:db8:1:300::1'])).toEqual([401]);
    // An IPv4 client written as IPv6 by a dual-stack socket is the IPv4 client.
    expect(await statuses(['192.0.2.5', '::ffff:192.0.2.5', '192.0.2.5'])).toEqual([401, 401, 429]);
    await t.close();
  });

  it('RATE_LIMIT_IPV6_PREFIX=128 counts each address alone', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '1', LOCKOUT_THRESHOLD: '100', RATE_LIMIT_IPV6_PREFIX: '128' } });
    await enrol(t, 'alice');
    expect(await statuses(['2001:db8::1', '2001:db8::2', '2001:db8::1'])).toEqual([401, 401, 429]);
  });
});

describe('rateLimitKey', () => {
  it('is an IPv4 address itself, and an IPv6 address masked to the prefix, in every way Node writes one', () => {
    expect(rateLimitKey('203.0.113.7', 56)).toBe('203.0.113.7');
    expect(rateLimitKey('::FFFF:203.0.113.7', 56)).toBe('203.0.113.7');
    expect(rateLimitKey('2001:db8:1:2::10', 56)).toBe('2001:db8:1::/56');
    expect(rateLimitKey('2001:0db8:0001:00ff:1:2:3:4', 56)).toBe('2001:db8:1::/56');
    expect(rateLimitKey('2001:db8:1:2::10', 64)).toBe('2001:db8:1:2::/64');
    expect(rateLimitKey('2001:db8:1:2f::', 60)).toBe('2001:db8:1:20::/60');
    expect(rateLimitKey('fe80::1%eth0', 64)).toBe('fe80::/64');
    expect(rateLimitKey('64:ff9b::192.0.2.33', 128)).toBe('64:ff9b::c000:221/128');
    expect(rateLimitKey('::1', 128)).toBe('::1/128');
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { generateCodes, newUser, post } from './support.js';

// Per client address, part B's verification routes are rate limited like the others (the
// limiter itself is part A's): the limit is per address, and the answer is the error format.

describe('rate limit of /backup-codes/verify and /challenge/verify', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_SECONDS: '60', LOCKOUT_THRESHOLD: '100' } });
    await newUser(t, 'alice');
  });
  afterEach(() => t.close());

  it('answers 429 RATE_LIMITED past RATE_LIMIT_MAX requests from one address, across both routes', async () => {
    const codes = await generateCodes(t, 'alice');
    const challenge = (await post(t, '/challenge', { user_id: 'alice', method: 'backup_code' })).json().challenge_id as string;
    const from = '203.0.113.50';
    expect((await post(t, '/backup-codes/verify', { user_id: 'alice', code: 'zzzzz-zzzzz' }, from)).statusCode).toBe(401);
    expect((await post(t, '/backup-codes/verify', { user_id: 'alice', code: 'zzzzz-zzzzz' }, from)).statusCode).toBe(401);
    expect((await post(t, '/challenge/verify', { challenge_id: challenge, code: 'zzzzz-zzzzz' }, from)).statusCode).toBe(401);
    for (const [url, body] of [
      ['/backup-codes/verify', { user_id: 'alice', code: codes[0] }],
      ['/challenge/verify', { challenge_id: challenge, code: codes[0] }],
    ] as const) {
      const r = await post(t, url, body, from);
      expect([r.statusCode, r.json().code, typeof r.json().error], url).toEqual([429, 'RATE_LIMITED', 'string']);
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    // Another address is not limited, and the refused requests spent nothing.
    const other = await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] }, '203.0.113.51');
    expect(other.json()).toEqual({ valid: true, remaining: 9 });
  });
});

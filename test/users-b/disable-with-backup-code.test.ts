import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { auditOf, enrolActive, generateCodes, get, post } from './support.js';

// POST /disable is part A's route; part B makes it accept a backup code (through the
// two-factor service's otherFactor hook), spent once and charged to the lockout like any code.

describe('/disable with a backup code', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
    await enrolActive(t, 'alice');
  });
  afterEach(() => t.close());

  it('turns 2FA off with an unused backup code, and spends it', async () => {
    const codes = await generateCodes(t, 'alice');
    const res = await post(t, '/disable', { user_id: 'alice', code: codes[0] });
    expect([res.statusCode, res.json()]).toEqual([200, { user_id: 'alice', enabled: false }]);
    expect((await get(t, '/status/alice')).json()).toMatchObject({ enabled: false, backup_codes_remaining: 9 });
    const events = (await auditOf(t, 'alice')).map((e) => e.event);
    expect(events.slice(0, 3)).toEqual(['twofa.disable', 'backup_code.verify', 'backup_code.use']);
  });

  it('refuses a wrong or spent backup code with 401 and leaves 2FA on', async () => {
    const codes = await generateCodes(t, 'alice');
    expect((await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] })).statusCode).toBe(200);
    for (const code of [codes[0], 'zzzzz-zzzzz']) {
      const res = await post(t, '/disable', { user_id: 'alice', code });
      expect([res.statusCode, res.json().code]).toEqual([401, 'INVALID_CODE']);
    }
    expect((await get(t, '/status/alice')).json()).toMatchObject({ enabled: true, failed_attempts: 2 });
  });
});

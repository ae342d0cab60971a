import { scryptSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKUP_CODE_BITS } from '../../src/otp/backup-codes.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { auditOf, databaseDump, generateCodes, get, IP, newUser, post, snapshot } from './support.js';

describe('backup codes', () => {
  let t: TestApp;
  beforeEach(async () => {
    // A high lockout threshold where a test needs many failures without locking.
    t = await createTestApp({ env: { LOCKOUT_THRESHOLD: '100' } });
    await newUser(t, 'alice');
  });
  afterEach(() => t.close());

  it('gives BACKUP_CODE_COUNT distinct codes of at least 40 bits, or `count` of them', async () => {
    const codes = await generateCodes(t, 'alice');
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
    expect(BACKUP_CODE_BITS).toBeGreaterThanOrEqual(40);
    expect(await generateCodes(t, 'alice', 3)).toHaveLength(3);
    const tooMany = await post(t, '/backup-codes/generate', { user_id: 'alice', count: 51 });
    expect([tooMany.statusCode, tooMany.json().code]).toEqual([400, 'VALIDATION_FAILED']);
  });

  it('a check is not queued behind large generations: their hashes share two of the pool threads', async () => {
    const codes = await generateCodes(t, 'alice');
    for (const u of ['bob', 'carol', 'dave']) await newUser(t, u);
    const done: string[] = [];
    const generations = ['bob', 'carol', 'dave'].map((u) => post(t, '/backup-codes/generate', { user_id: u, count: 20 }).then((r) => done.push(`${u}:${r.statusCode}`)));
    const check = post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] }).then((r) => done.push(`check:${r.statusCode}`));
    await Promise.all([...generations, check]);
    // 60 hashes on two threads against one on a free thread: the check is answered first
    // (before this limit, it waited behind every hash queued before it).
    expect(done[0]).toBe('check:200');
    expect(done.slice(1).sort()).toEqual(['bob:201', 'carol:201', 'dave:201']);
  });

  it('stores no code: the database file holds only salted hashes', async () => {
    const codes = await generateCodes(t, 'alice');
    await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] });
    const dump = databaseDump(t);
    for (const c of codes) {
      const bare = c.replace('-', '');
      for (const form of [c, bare, c.toUpperCase(), bare.toUpperCase()]) expect(dump).not.toContain(form);
    }
    const hashes = t.store.db.prepare('SELECT code_hash FROM backup_codes').all() as { code_hash: Buffer }[];
    expect(hashes.every((h) => h.code_hash.length === 32)).toBe(true);
    expect(t.store.db.prepare('SELECT COUNT(*) AS n FROM backup_code_sets').get()).toEqual({ n: 1 });
    // Salted: each set has its own random salt, and each stored hash is scrypt of the code under it.
    await newUser(t, 'bob');
    await generateCodes(t, 'bob');
    const salts = (t.store.db.prepare('SELECT salt FROM backup_code_sets ORDER BY user_id').all() as { salt: Buffer }[]).map((r) => r.salt);
    expect(salts.map((x) => x.length)).toEqual([16, 16]);
    expect(salts[0]!.equals(salts[1]!)).toBe(false);
    expect(salts.some((x) => x.equals(Buffer.alloc(16)))).toBe(false);
    const aliceHashes = (t.store.db.prepare("SELECT code_hash FROM backup_codes WHERE user_id = 'alice'").all() as { code_hash: Buffer }[]).map((r) => r.code_hash.toString('hex'));
    const unused = codes.find((c) => c !== codes[0])!;
    const expected = scryptSync(unused.replace('-', '').toUpperCase(), salts[0]!, 32, { N: 2 ** 14, r: 8, p: 1 }).toString('hex');
    expect(aliceHashes).toContain(expected);
  });

  it('accepts a code once, in any case, with or without the dash', async () => {
    const codes = await generateCodes(t, 'alice');
    const first = await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] });
    expect([first.statusCode, first.json()]).toEqual([200, { valid: true, remaining: 9 }]);
    const again = await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] });
    expect([again.statusCode, again.json().code]).toEqual([401, 'INVALID_CODE']);
    const loose = await post(t, '/backup-codes/verify', { user_id: 'alice', code: ` ${codes[1]!.replace('-', '').toUpperCase()} ` });
    expect(loose.json()).toEqual({ valid: true, remaining: 8 });
    for (const wrong of ['abcde-fghjk', '123456', '', 'x'.repeat(64)]) {
      const r = await post(t, '/backup-codes/verify', { user_id: 'alice', code: wrong });
      expect([r.statusCode, r.json().code], wrong).toEqual([401, 'INVALID_CODE']);
    }
  });

  it('lets exactly one of 20 concurrent uses of a code through, across two connections to the file', async () => {
    const codes = await generateCodes(t, 'alice');
    const other = await createTestApp({ dataDir: t.dataDir, clock: t.clock, env: { LOCKOUT_THRESHOLD: '100' } });
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => post(i % 2 ? other : t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] })),
      );
      const statuses = results.map((r) => r.statusCode).sort();
      expect(statuses).toEqual([200, ...Array(19).fill(401)]);
    } finally {
      await other.close();
    }
    expect((await get(t, '/backup-codes/alice')).json().remaining).toBe(9);
  });

  it('voids the old set when a new one is generated', async () => {
    const old = await generateCodes(t, 'alice');
    const fresh = await generateCodes(t, 'alice');
    const r1 = await post(t, '/backup-codes/verify', { user_id: 'alice', code: old[0] });
    expect(r1.statusCode).toBe(401);
    const r2 = await post(t, '/backup-codes/verify', { user_id: 'alice', code: fresh[0] });
    expect(r2.json()).toEqual({ valid: true, remaining: 9 });
  });

  it('lists which codes are used and when, never the codes', async () => {
    const codes = await generateCodes(t, 'alice', 3);
    t.clock.advance(5_000);
    await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[1] });
    const res = await get(t, '/backup-codes/alice');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      total: 3,
      remaining: 2,
      codes: [
        { id: 1, used: false, used_at: null },
        { id: 2, used: true, used_at: '2026-11-23T14:05:05.000Z' },
        { id: 3, used: false, used_at: null },
      ],
    });
    for (const c of codes) expect(res.body).not.toContain(c.replace('-', '').slice(0, 5));
    expect((await get(t, '/backup-codes/bob')).json().code).toBe('USER_NOT_FOUND');
  });

  it('audits generation, use and each verification with user, outcome, address and time, never a code', async () => {
    const codes = await generateCodes(t, 'alice');
    await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] });
    await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] });
    const events = (await auditOf(t, 'alice')).map((e) => [e.event, e.success, e.reason, e.ip, e.at]);
    const at = t.clock.now();
    expect(events).toEqual([
      ['backup_code.verify', false, 'replay', IP, at],
      ['backup_code.verify', true, null, IP, at],
      ['backup_code.use', true, null, IP, at],
      ['backup_codes.generate', true, 'count_10', IP, at],
    ]);
    const text = JSON.stringify(await auditOf(t, 'alice'));
    // Neither half of any code, in either case, dashed or not.
    for (const c of codes) for (const part of [...c.split('-'), c.replace('-', '')]) for (const x of [part, part.toUpperCase()]) expect(text).not.toContain(x);
  });

  it('answers an unknown user, a malformed body or a wrong type in the error format and changes nothing', async () => {
    await generateCodes(t, 'alice');
    const before = snapshot(t);
    const cases: [string, unknown, number, string][] = [
      ['/backup-codes/verify', { user_id: 'bob', code: 'abcde-fghjk' }, 404, 'USER_NOT_FOUND'],
      ['/backup-codes/generate', { user_id: 'bob' }, 404, 'USER_NOT_FOUND'],
      ['/backup-codes/verify', { user_id: 'alice' }, 400, 'VALIDATION_FAILED'],
      ['/backup-codes/generate', { user_id: 'al ice' }, 400, 'VALIDATION_FAILED'],
      ['/backup-codes/generate', { user_id: 'alice', count: '3' }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [url, body, status, code] of cases) {
      const r = await post(t, url, body);
      expect([r.statusCode, r.json().code], JSON.stringify(body)).toEqual([status, code]);
      expect(typeof r.json().error).toBe('string');
    }
    const bad = await t.app.inject({ method: 'POST', url: '/backup-codes/verify', headers: { ...t.auth, 'content-type': 'application/json' }, payload: '{"user_id":' });
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'INVALID_JSON']);
    const noKey = await t.app.inject({ method: 'GET', url: '/backup-codes/alice' });
    expect([noKey.statusCode, noKey.json().code]).toEqual([401, 'UNAUTHORIZED']);
    expect(snapshot(t)).toBe(before);
    // A code that is not a string is a wrong code like any other (API.md), charged as one.
    const wrongType = await post(t, '/backup-codes/verify', { user_id: 'alice', code: 123456 });
    expect([wrongType.statusCode, wrongType.json().code]).toEqual([401, 'INVALID_CODE']);
    expect((await get(t, '/status/alice')).json().failed_attempts).toBe(1);
  });
});

describe('backup codes and the lockout', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
    await newUser(t, 'alice');
  });
  afterEach(() => t.close());

  it('charges wrong backup codes to the lockout: then even a right one is 429 with Retry-After and is not spent', async () => {
    const codes = await generateCodes(t, 'alice');
    for (let i = 0; i < 5; i++) {
      const r = await post(t, '/backup-codes/verify', { user_id: 'alice', code: 'zzzzz-zzzzz' }, `192.0.2.${i}`);
      expect(r.statusCode).toBe(401);
    }
    const locked = await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] });
    expect([locked.statusCode, locked.json().code, locked.headers['retry-after']]).toEqual([429, 'ACCOUNT_LOCKED', '60']);
    t.clock.advance(60_000);
    const after = await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] });
    expect(after.json()).toEqual({ valid: true, remaining: 9 });
  });

  it('checks at most the threshold of 40 parallel guesses', async () => {
    await generateCodes(t, 'alice');
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => post(t, '/backup-codes/verify', { user_id: 'alice', code: `zzzzz-zzz${String(i).padStart(2, '0')}` }, `192.0.2.${i}`)),
    );
    const count = (s: number) => results.filter((r) => r.statusCode === s).length;
    expect(count(401)).toBeLessThanOrEqual(5);
    expect(count(401) + count(429)).toBe(40);
    expect((await t.store.users.get('alice'))!.lockedUntil).not.toBeNull();
  });
});

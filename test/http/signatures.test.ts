import { createHash, createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Database } from '../../src/db/driver.js';
import { databasePath, migrate } from '../../src/db/open.js';
import { createTestApp, API_KEY, newDataDir, oathtool, opensslEncrypt, randomHexSeed, setSeed, type TestApp } from '../helpers/app.js';
import { mustNotLog } from '../helpers/log-capture.js';

// Request signatures as API.md defines them, checked against a signature made by `openssl dgst`.

let t: TestApp;
afterEach(() => t.close());

async function setup(env: Record<string, string> = {}) {
  t = await createTestApp({ env });
  if (env.REQUIRE_SIGNATURES !== 'true') return setSeed(t, randomHexSeed());
  // With every route signed, setting the seed is signed too.
  const body = JSON.stringify({ encrypted_seed: opensslEncrypt(randomHexSeed(), t.publicKeyPath) });
  const ts = nowS();
  const res = await t.app.inject({
    method: 'POST',
    url: '/decrypt-seed',
    payload: body,
    headers: { ...t.auth, 'content-type': 'application/json', 'x-timestamp': String(ts), 'x-signature': sign(ts, 'POST', '/decrypt-seed', body) },
  });
  expect(res.json()).toEqual({ status: 'ok' });
}

const nowS = () => Math.floor(t.clock.now() / 1000);

function sign(ts: number | string, method: string, path: string, body = '', key = API_KEY): string {
  const canonical = `${ts}\n${method}\n${path}\n${createHash('sha256').update(body).digest('hex')}`;
  const sig = createHmac('sha256', key).update(canonical).digest('hex');
  mustNotLog(sig);
  return sig;
}

const secure = (headers: Record<string, string>, url = '/otp/secure') => t.app.inject({ url, headers: { ...t.auth, ...headers } });
const fail = (code: string) => expect.objectContaining({ code });

describe('GET /otp/secure', () => {
  it('accepts a signature made with openssl dgst, exactly once', async () => {
    await setup();
    const ts = String(nowS());
    const canonical = `${ts}\nGET\n/otp/secure\n${createHash('sha256').update('').digest('hex')}`;
    const sig = execFileSync('openssl', ['dgst', '-sha256', '-hmac', API_KEY], { input: canonical }).toString().trim().split(' ').pop()!;
    mustNotLog(sig);
    const first = await secure({ 'x-timestamp': ts, 'x-signature': sig });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ otp: expect.stringMatching(/^\d{6}$/), valid_for_seconds: 30, timestamp: nowS() });
    const again = await secure({ 'x-timestamp': ts, 'x-signature': sig });
    expect(again.statusCode).toBe(401);
    expect(again.json()).toEqual(fail('SIGNATURE_REPLAYED'));
  });

  it('refuses a missing signature, a wrong one, and one for another path', async () => {
    await setup();
    const ts = nowS();
    expect((await secure({})).json()).toEqual(fail('INVALID_SIGNATURE'));
    expect((await secure({ 'x-timestamp': String(ts) })).json()).toEqual(fail('INVALID_SIGNATURE'));
    expect((await secure({ 'x-timestamp': String(ts), 'x-signature': 'f'.repeat(64) })).json()).toEqual(fail('INVALID_SIGNATURE'));
    expect((await secure({ 'x-timestamp': String(ts), 'x-signature': sign(ts, 'GET', '/otp') })).json()).toEqual(fail('INVALID_SIGNATURE'));
    expect((await secure({ 'x-timestamp': String(ts), 'x-signature': sign(ts, 'GET', '/otp/secure', '', 'another-key') })).json()).toEqual(fail('INVALID_SIGNATURE'));
    expect((await secure({ 'x-timestamp': 'yesterday', 'x-signature': sign('yesterday', 'GET', '/otp/secure') })).json()).toEqual(fail('INVALID_SIGNATURE'));
    // the query string is part of what is signed
    const q = await secure({ 'x-timestamp': String(ts), 'x-signature': sign(ts, 'GET', '/otp/secure') }, '/otp/secure?x=1');
    expect(q.json()).toEqual(fail('INVALID_SIGNATURE'));
    const q2 = await secure({ 'x-timestamp': String(ts), 'x-signature': sign(ts, 'GET', '/otp/secure?x=1') }, '/otp/secure?x=1');
    expect(q2.statusCode).toBe(200);
  });

  it('a timestamp beyond the window in either direction is SIGNATURE_EXPIRED; at the edge it passes', async () => {
    await setup();
    for (const skew of [-31, 31, -3600]) {
      const ts = nowS() + skew;
      expect((await secure({ 'x-timestamp': String(ts), 'x-signature': sign(ts, 'GET', '/otp/secure') })).json()).toEqual(fail('SIGNATURE_EXPIRED'));
    }
    for (const skew of [-30, 30]) {
      const ts = nowS() + skew;
      expect((await secure({ 'x-timestamp': String(ts), 'x-signature': sign(ts, 'GET', '/otp/secure') })).statusCode).toBe(200);
    }
  });

  it('SIGNATURE_WINDOW_SECONDS sets the window', async () => {
    await setup({ SIGNATURE_WINDOW_SECONDS: '5' });
    const ts = nowS() - 6;
    expect((await secure({ 'x-timestamp': String(ts), 'x-signature': sign(ts, 'GET', '/otp/secure') })).json()).toEqual(fail('SIGNATURE_EXPIRED'));
  });

  it('the timestamp-only form is refused by default and accepted only when switched on', async () => {
    await setup();
    const ts = String(nowS());
    const legacy = createHmac('sha256', API_KEY).update(ts).digest('hex');
    mustNotLog(legacy);
    expect((await secure({ 'x-timestamp': ts, 'x-signature': legacy })).json()).toEqual(fail('INVALID_SIGNATURE'));
    await t.close();
    await setup({ ALLOW_TIMESTAMP_SIGNATURES: 'true' });
    expect((await secure({ 'x-timestamp': ts, 'x-signature': legacy })).statusCode).toBe(200);
    expect((await secure({ 'x-timestamp': ts, 'x-signature': legacy })).json()).toEqual(fail('SIGNATURE_REPLAYED'));
  });

  it('HMAC_SECRET, when set, is the signing key instead of the API key', async () => {
    await setup({ HMAC_SECRET: 'a-separate-signing-secret-0123456789' });
    mustNotLog('a-separate-signing-secret-0123456789');
    const ts = nowS();
    expect((await secure({ 'x-timestamp': String(ts), 'x-signature': sign(ts, 'GET', '/otp/secure') })).json()).toEqual(fail('INVALID_SIGNATURE'));
    const good = sign(ts, 'GET', '/otp/secure', '', 'a-separate-signing-secret-0123456789');
    expect((await secure({ 'x-timestamp': String(ts), 'x-signature': good })).statusCode).toBe(200);
  });

  it('still needs the API key', async () => {
    await setup();
    const ts = nowS();
    const res = await t.app.inject({ url: '/otp/secure', headers: { 'x-timestamp': String(ts), 'x-signature': sign(ts, 'GET', '/otp/secure') } });
    expect(res.json()).toEqual(fail('UNAUTHORIZED'));
  });
});

describe('REQUIRE_SIGNATURES=true', () => {
  it('every authenticated route needs a signature over its exact body; public ones do not', async () => {
    await setup({ REQUIRE_SIGNATURES: 'true' });
    expect((await t.app.inject({ url: '/otp', headers: t.auth })).json()).toEqual(fail('INVALID_SIGNATURE'));
    expect((await t.app.inject({ url: '/generate-2fa', headers: t.auth })).json()).toEqual(fail('INVALID_SIGNATURE'));
    // The per-user routes too (API.md: every authenticated route), and nothing is written.
    const users: [string, string, object?][] = [
      ['POST', '/totp/register', { username: 'alice' }],
      ['POST', '/totp/verify', { username: 'alice', otp: '123456' }],
      ['POST', '/backup-codes/generate', { user_id: 'alice' }],
      ['GET', '/status/alice'],
      ['GET', '/audit'],
    ];
    for (const [method, url, payload] of users) {
      const res = await t.app.inject({ method: method as 'GET' | 'POST', url, headers: t.auth, ...(payload ? { payload } : {}) });
      expect(res.json(), url).toEqual(fail('INVALID_SIGNATURE'));
    }
    expect(t.store.db.prepare('SELECT COUNT(*) AS n FROM users').get()).toEqual({ n: 0 });
    expect((await t.app.inject({ url: '/health' })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/seed/public-key' })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/.well-known/jwks.json' })).statusCode).toBe(200);

    const ts = nowS();
    const ok = await t.app.inject({ url: '/otp', headers: { ...t.auth, 'x-timestamp': String(ts), 'x-signature': sign(ts, 'GET', '/otp') } });
    expect(ok.statusCode).toBe(200);

    const code = ok.json().otp as string;
    mustNotLog(code);
    const body = JSON.stringify({ otp: code });
    const tampered = JSON.stringify({ otp: '000000' });
    const post = (payload: string, sig: string) =>
      t.app.inject({ method: 'POST', url: '/otp/verify', payload, headers: { ...t.auth, 'content-type': 'application/json', 'x-timestamp': String(ts), 'x-signature': sig } });
    expect((await post(tampered, sign(ts, 'POST', '/otp/verify', body))).json()).toEqual(fail('INVALID_SIGNATURE'));
    const res = await post(body, sign(ts, 'POST', '/otp/verify', body));
    expect(res.json()).toMatchObject({ valid: true });
  });

  it('without it, /otp needs no signature', async () => {
    await setup();
    expect((await t.app.inject({ url: '/otp', headers: t.auth })).statusCode).toBe(200);
  });
});

describe('PUBLIC_CODE_ROUTES', () => {
  it('is off by default and opens only /generate-2fa and /verify-2fa when on', async () => {
    await setup({ PUBLIC_CODE_ROUTES: 'true' });
    expect((await t.app.inject({ url: '/generate-2fa' })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: '/verify-2fa', payload: { code: '000000' } })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/otp' })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'POST', url: '/decrypt-seed', payload: { encrypted_seed: 'AAAA' } })).statusCode).toBe(401);
  });
});

describe('used signatures', () => {
  const usedAt = (ts: number) => t.store.db.prepare('SELECT COUNT(*) FROM used_signatures WHERE signed_at = ?').pluck().get(ts);

  it('are remembered while their timestamp can pass the window, and forgotten after', async () => {
    await setup({ SIGNATURE_WINDOW_SECONDS: '300' });
    const ts = nowS();
    const sig = sign(ts, 'GET', '/otp/secure');
    expect((await secure({ 'x-timestamp': String(ts), 'x-signature': sig })).statusCode).toBe(200);
    // 200 s on, another signed request runs the periodic purge: the first one is still inside
    // the window, so it is kept and its replay refused.
    t.clock.advance(200_000);
    expect((await secure({ 'x-timestamp': String(nowS()), 'x-signature': sign(nowS(), 'GET', '/otp/secure') })).statusCode).toBe(200);
    expect((await secure({ 'x-timestamp': String(ts), 'x-signature': sig })).json()).toEqual(fail('SIGNATURE_REPLAYED'));
    expect(usedAt(ts)).toBe(1);
    // Past the window it can only be SIGNATURE_EXPIRED, and the next purge drops it.
    t.clock.advance(200_000);
    expect((await secure({ 'x-timestamp': String(ts), 'x-signature': sig })).json()).toEqual(fail('SIGNATURE_EXPIRED'));
    expect((await secure({ 'x-timestamp': String(nowS()), 'x-signature': sign(nowS(), 'GET', '/otp/secure') })).statusCode).toBe(200);
    expect(usedAt(ts)).toBe(0);
  });

  it('used before the upgrade to migration 007 are still refused, until they expire', async () => {
    // A database as the previous release left it: migrations up to 006, a signature used.
    const dataDir = newDataDir();
    const old = mkdtempSync(join(tmpdir(), 'migrations-006-'));
    const dir = join(import.meta.dirname, '../../src/db/migrations');
    for (const f of readdirSync(dir).filter((f) => /^00[1-6]_/.test(f))) copyFileSync(join(dir, f), join(old, f));
    const db = new Database(databasePath(dataDir));
    db.pragma('journal_mode = WAL');
    migrate(db, old);
    rmSync(old, { recursive: true, force: true });
    t = await createTestApp({ dataDir: newDataDir() }); // for the clock and the signing helper
    const ts = nowS();
    const sig = sign(ts, 'GET', '/otp/secure');
    db.prepare('INSERT INTO used_signatures (signature, expires_at) VALUES (?, ?)').run(sig, (ts + 31) * 1000);
    db.close();
    await t.close();

    t = await createTestApp({ dataDir });
    await setSeed(t, randomHexSeed());
    expect((await secure({ 'x-timestamp': String(ts), 'x-signature': sig })).json()).toEqual(fail('SIGNATURE_REPLAYED'));
    t.clock.advance(100_000);
    expect((await secure({ 'x-timestamp': String(nowS()), 'x-signature': sign(nowS(), 'GET', '/otp/secure') })).statusCode).toBe(200);
    expect(t.store.db.prepare('SELECT COUNT(*) FROM used_signatures_legacy').pluck().get()).toBe(0);
  });
});

it('oathtool helper is the oracle used above (sanity)', async () => {
  t = await createTestApp();
  const seed = randomHexSeed();
  await setSeed(t, seed);
  const res = await t.app.inject({ url: '/otp', headers: t.auth });
  expect(res.json().otp).toBe(oathtool(seed, t.clock.now()));
});

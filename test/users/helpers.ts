import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from '../../src/db/driver.js';
import { expect } from 'vitest';
import { databasePath } from '../../src/db/open.js';
import { mustNotLog } from '../helpers/log-capture.js';
import { oathtool, type TestApp } from '../helpers/app.js';

// Helpers of the per-user tests: enrol through the real routes, read a QR code with zbarimg,
// decode the secret out of a provisioning URI, and look at the database file itself.

export type Enrolled = { userId: string; uri: string; secretBase32: string; secretHex: string; qr: string; algorithm: string; digits: number; period: number };

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32ToHex(b32: string): string {
  let bits = '';
  for (const c of b32.replace(/=+$/, '')) {
    const v = BASE32.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes).toString('hex');
}

/** The parameters of an otpauth:// URI, as an authenticator app reads them. */
export function parseUri(uri: string) {
  const u = new URL(uri);
  const q = u.searchParams;
  return {
    label: decodeURIComponent(u.pathname.replace(/^\/+/, '')),
    secret: q.get('secret') ?? '',
    issuer: q.get('issuer') ?? '',
    algorithm: q.get('algorithm') ?? 'SHA1',
    digits: Number(q.get('digits') ?? 6),
    period: Number(q.get('period') ?? 30),
  };
}

/** POST /totp/setup (or /totp/register when no options), returning what an app would scan. */
export async function enrol(
  t: TestApp,
  userId: string,
  opts: { issuer?: string; algorithm?: string; digits?: number; period?: number; register?: boolean } = {},
): Promise<Enrolled> {
  const { register, ...params } = opts;
  const res = register
    ? await t.app.inject({ method: 'POST', url: '/totp/register', headers: t.auth, payload: { username: userId } })
    : await t.app.inject({ method: 'POST', url: '/totp/setup', headers: t.auth, payload: { user_id: userId, ...params } });
  expect(res.statusCode, res.body).toBe(201);
  const body = res.json() as { provisioning_uri: string; qr_code_base64: string; secret?: string };
  const p = parseUri(body.provisioning_uri);
  const secretHex = base32ToHex(p.secret);
  mustNotLog(p.secret, secretHex, secretHex.toUpperCase());
  return { userId, uri: body.provisioning_uri, qr: body.qr_code_base64, secretBase32: p.secret, secretHex, algorithm: p.algorithm, digits: p.digits, period: p.period };
}

/** oathtool's code for an enrolled user at the app's clock (plus `offsetSteps`). */
export function codeFor(t: TestApp, e: Enrolled, offsetSteps = 0): string {
  return oathtool(e.secretHex, t.clock.now() + offsetSteps * e.period * 1000, { algorithm: e.algorithm, digits: e.digits, period: e.period });
}

export async function verifyTotp(t: TestApp, userId: string, otp: string, ip?: string) {
  return t.app.inject({ method: 'POST', url: '/totp/verify', headers: t.auth, payload: { username: userId, otp }, ...(ip ? { remoteAddress: ip } : {}) });
}

/** Writes the data URL's PNG to a file and reads it back with zbarimg, the way a camera would. */
export function zbarimg(dataUrl: string): string {
  const prefix = 'data:image/png;base64,';
  expect(dataUrl.startsWith(prefix)).toBe(true);
  const file = join(mkdtempSync(join(tmpdir(), 'tfa-qr-')), 'qr.png');
  writeFileSync(file, Buffer.from(dataUrl.slice(prefix.length), 'base64'));
  // stdio given: zbarimg's stderr (a D-Bus warning on machines without one) stays out of the
  // test output, and still comes with the error if it fails.
  return execFileSync('zbarimg', ['--raw', '-q', file], { stdio: 'pipe' }).toString('utf8').replace(/\n$/, '');
}

/** Every byte of the database (and its WAL), to look for a secret or a code in it. */
export function databaseBytes(t: TestApp): Buffer {
  const file = databasePath(t.dataDir);
  const parts = [file, `${file}-wal`].map((f) => {
    try {
      return readFileSync(f);
    } catch {
      return Buffer.alloc(0);
    }
  });
  return Buffer.concat(parts);
}

/** Row counts of every table: a request that must change nothing leaves them equal. */
export function tableCounts(t: TestApp): Record<string, number> {
  const db = new Database(databasePath(t.dataDir), { readonly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    return Object.fromEntries(tables.map((n) => [n, (db.prepare(`SELECT COUNT(*) AS c FROM "${n}"`).get() as { c: number }).c]));
  } finally {
    db.close();
  }
}

/** The users row straight from the file. */
export function userRow(t: TestApp, userId: string): Record<string, unknown> | undefined {
  const db = new Database(databasePath(t.dataDir), { readonly: true });
  try {
    return db.prepare('SELECT * FROM users WHERE user_id = ?').get(userId) as Record<string, unknown> | undefined;
  } finally {
    db.close();
  }
}

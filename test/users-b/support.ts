import { Database } from '../../src/db/driver.js';
import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { databasePath } from '../../src/db/open.js';
import { mustNotLog } from '../helpers/log-capture.js';
import { oathtool, type TestApp } from '../helpers/app.js';

// Shared steps of the part-B tests: requests from a chosen client address, users, a TOTP
// enrolment made through the real routes and confirmed with oathtool, and a raw look at the
// database file.

export const IP = '198.51.100.7';

export async function post(t: TestApp, url: string, payload: unknown, ip = IP) {
  return t.app.inject({ method: 'POST', url, headers: t.auth, payload: payload as object, remoteAddress: ip });
}

export async function get(t: TestApp, url: string, ip = IP) {
  return t.app.inject({ method: 'GET', url, headers: t.auth, remoteAddress: ip });
}

/** A user row, as enrolment would create it. */
export async function newUser(t: TestApp, userId: string): Promise<void> {
  await t.store.users.ensure(userId, t.clock.now());
}

export async function generateCodes(t: TestApp, userId: string, count?: number): Promise<string[]> {
  const res = await post(t, '/backup-codes/generate', { user_id: userId, ...(count ? { count } : {}) });
  expect(res.statusCode, res.body).toBe(201);
  const codes = res.json().codes as string[];
  for (const c of codes) mustNotLog(c, c.replace('-', ''), c.toUpperCase(), c.replace('-', '').toUpperCase());
  return codes;
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export function base32ToHex(s: string): string {
  let bits = '';
  for (const c of s.replace(/=+$/, '')) bits += B32.indexOf(c).toString(2).padStart(5, '0');
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes).toString('hex');
}

/** Enrols through POST /totp/setup and confirms with oathtool's code: 2FA is then enabled. */
export async function enrolActive(t: TestApp, userId: string): Promise<string> {
  const setup = await post(t, '/totp/setup', { user_id: userId });
  expect(setup.statusCode, setup.body).toBe(201);
  const secret = setup.json().secret as string;
  const hex = base32ToHex(secret);
  mustNotLog(secret, hex);
  const ok = await post(t, '/totp/verify', { user_id: userId, otp: oathtool(hex, t.clock.now()) });
  expect(ok.statusCode, ok.body).toBe(200);
  t.clock.advance(30_000); // the step just used is spent: tests start on a fresh one
  return hex;
}

/** Every value of every table, and the raw bytes of the database and its WAL, as text. */
export function databaseDump(t: TestApp): string {
  const file = databasePath(t.dataDir);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    const values: string[] = [];
    for (const { name } of tables) {
      for (const row of db.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[]) {
        for (const v of Object.values(row)) values.push(Buffer.isBuffer(v) ? `${v.toString('latin1')} ${v.toString('hex')}` : String(v));
      }
    }
    const raw = [file, `${file}-wal`].filter(existsSync).map((f) => readFileSync(f).toString('latin1'));
    return [...values, ...raw].join('\n');
  } finally {
    db.close();
  }
}

export async function auditOf(t: TestApp, userId: string) {
  return t.store.audit.list({ userId, limit: 1000 });
}

/** Rows of every table that a refused request must leave alone. */
export function snapshot(t: TestApp): string {
  const tables = ['users', 'backup_codes', 'backup_code_sets', 'challenges', 'recovery_requests', 'user_configs', 'audit_events', 'totp_credentials'];
  return JSON.stringify(tables.map((n) => t.store.db.prepare(`SELECT * FROM ${n}`).all()));
}

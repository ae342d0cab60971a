import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, randomHexSeed, setSeed, type TestApp } from '../helpers/app.js';
import { codeFor, enrol, verifyTotp } from '../users/helpers.js';
import { changedTables, snapshotTables } from '../helpers/db-snapshot.js';

// Every bad input gets a clear JSON error and changes nothing. Driven by the service's own
// OpenAPI document, so a route added later is covered without a line here: each body field set
// to values of every wrong kind or left out, bodies that are not objects or not JSON, other
// content types, odd path parameters and queries, and bad credentials. Every answer must be
// below 500, JSON, and in the error format when it is an error. A request refused for its form
// or its credentials must leave every row of every table as it was; any other refusal (a 409,
// a 404 for a user) may add an audit row, as a refused enrolment does on purpose, and change
// nothing else; a failed verification is recorded and charged by design.

const USER = 'malformed.input@example.com';

type Schema = { type?: string; enum?: unknown[]; minimum?: number; properties?: Record<string, Schema> };
type Operation = { requestBody?: { content?: { 'application/json'?: { schema?: Schema } } } };

// The answers of a verification that was made and failed: recorded (audit row, lockout charge) by design.
const RECORDED = new Set(['INVALID_OTP', 'INVALID_CODE', 'ACCOUNT_LOCKED']);
// Refused for the request's form or its credentials: before any work, so not even audited.
const REFUSED_UNREAD = new Set(['VALIDATION_FAILED', 'INVALID_JSON', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE', 'BAD_REQUEST', 'UNAUTHORIZED', 'NOT_FOUND', 'URI_TOO_LONG']);

const WRONG_VALUES: unknown[] = [
  null, true, 0, -1, 1.5, 1e308, '', ' ', 'a'.repeat(5000), '\u0000', '\ud800', '😀', '../../etc/passwd', "' OR 1=1 --",
  '１２３４５６', [], ['123456'], {}, { $gt: '' }, '__proto__', 'constructor',
];
const RAW_BODIES = ['', 'null', '[]', '"x"', '1', 'true', '{', '{"a":', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', '['.repeat(3000) + ']'.repeat(3000)];
const CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x'];
const PARAMS = ['%00', '%zz', 'a'.repeat(300), '..', 'a%2Fb', '😀', '__proto__', 'a b'];
const QUERIES = ['limit=0', 'limit=-1', 'limit=1e2', 'limit=99999999999999999999', 'limit=1&limit=2', 'before=abc', 'since=abc', 'since=-1', 'since=1e20', 'user_id=%', '__proto__[x]=1'];

let t: TestApp;
let doc: { paths: Record<string, Record<string, Operation>> };

beforeAll(async () => {
  t = await createTestApp({ env: { ENABLE_DOCS: 'true', RATE_LIMIT_MAX: '100000', LOCKOUT_THRESHOLD: '100' } });
  await setSeed(t, randomHexSeed());
  // A user with everything a route can reach: TOTP on, backup codes, a configuration.
  const e = await enrol(t, USER);
  expect((await verifyTotp(t, USER, codeFor(t, e))).statusCode).toBe(200);
  const post = (url: string, payload: object) => t.app.inject({ method: 'POST', url, headers: t.auth, payload });
  expect((await post('/backup-codes/generate', { user_id: USER })).statusCode).toBe(201);
  expect((await post('/config', { user_id: USER, preferred_method: 'email', email: 'a@example.com' })).statusCode).toBe(201);
  doc = (await t.app.inject({ url: '/openapi.json' })).json();
});
afterAll(() => t.close());

const snapshot = () => snapshotTables(t.store.db);

/** A body the route would accept in shape: the user above, each enum's first value, the smallest number. */
function plausibleBody(schema: Schema): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(schema.properties ?? {})) {
    if (k === 'user_id' || k === 'username') body[k] = USER;
    else if (s.enum) body[k] = s.enum[0];
    else if (k.endsWith('_id')) body[k] = '0'.repeat(32);
    else if (s.type === 'integer') body[k] = s.minimum ?? 1;
    else body[k] = '123456';
  }
  return body;
}

type Case = { label: string; method: string; url: string; headers: Record<string, string>; payload?: string };

function casesFor(path: string, method: string, op: Operation): Case[] {
  const schema = op.requestBody?.content?.['application/json']?.schema;
  const url = path.replace('{user_id}', encodeURIComponent(USER));
  const json = { ...t.auth, 'content-type': 'application/json' };
  const cases: Case[] = [];
  const add = (label: string, c: Omit<Case, 'label' | 'method'>) => cases.push({ label: `${method} ${path}: ${label}`, method, ...c });
  const body = schema ? plausibleBody(schema) : undefined;
  if (schema && body) {
    for (const field of Object.keys(schema.properties ?? {})) {
      for (const v of WRONG_VALUES) add(`${field} = ${JSON.stringify(v).slice(0, 24)}`, { url, headers: json, payload: JSON.stringify({ ...body, [field]: v }) });
      const { [field]: _left, ...rest } = body;
      add(`without ${field}`, { url, headers: json, payload: JSON.stringify(rest) });
    }
    for (const raw of RAW_BODIES) add(`body ${raw.slice(0, 24)}`, { url, headers: json, payload: raw });
    for (const type of CONTENT_TYPES) add(`content-type ${type}`, { url, headers: { ...t.auth, 'content-type': type }, payload: JSON.stringify(body) });
    add('a body over the limit', { url, headers: json, payload: JSON.stringify({ ...body, pad: 'x'.repeat(20_000) }) });
    add('no body', { url, headers: t.auth });
  }
  if (path.includes('{user_id}')) {
    for (const p of PARAMS) add(`user_id ${p.slice(0, 24)}`, { url: path.replace('{user_id}', p), headers: schema ? json : t.auth, payload: body && JSON.stringify(body) });
  }
  for (const q of QUERIES) add(`?${q.slice(0, 30)}`, { url: `${url}?${q}`, headers: schema ? json : t.auth, payload: body && JSON.stringify(body) });
  for (const [label, key] of [['no API key', undefined], ['a wrong API key', `${t.auth['x-api-key']}x`], ['an empty API key', '']] as const) {
    const headers: Record<string, string> = schema ? { 'content-type': 'application/json' } : {};
    if (key !== undefined) headers['x-api-key'] = key;
    add(label, { url, headers, payload: body && JSON.stringify(body) });
  }
  return cases;
}

describe('malformed input, on every route of the OpenAPI document', () => {
  it('is answered below 500 in the error format, and a refused request changes no row', async () => {
    const problems: string[] = [];
    const codes = new Set<string>();
    let count = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const c of casesFor(path, method.toUpperCase(), op)) {
          const before = snapshot();
          const res = await t.app.inject({ method: c.method as 'GET', url: c.url, headers: c.headers, ...(c.payload !== undefined ? { payload: c.payload } : {}) });
          count++;
          const where = `${c.label} -> ${res.statusCode} ${res.body.slice(0, 120)}`;
          if (res.statusCode >= 500) problems.push(`5xx: ${where}`);
          if (res.statusCode < 400) continue;
          let body: { error?: unknown; code?: unknown } | undefined;
          try {
            body = res.json();
          } catch {
            problems.push(`not JSON: ${where}`);
            continue;
          }
          if (typeof body?.error !== 'string' || typeof body.code !== 'string') {
            problems.push(`not the error format: ${where}`);
            continue;
          }
          const code = body.code;
          codes.add(code);
          if (RECORDED.has(code)) continue;
          // Refused unread: nothing may change. Any other refusal: nothing but the audit log.
          const changed = changedTables(before, snapshot()).filter((n) => REFUSED_UNREAD.has(code) || n !== 'audit_events');
          if (changed.length > 0) problems.push(`changed ${changed.join(', ')}: ${where}`);
        }
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
    // The cases reached the routes' own checks, not only the framework's.
    expect(count).toBeGreaterThan(1000);
    for (const code of ['VALIDATION_FAILED', 'INVALID_JSON', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE', 'UNAUTHORIZED', 'INVALID_OTP', 'INVALID_CODE']) {
      expect(codes, code).toContain(code);
    }
    // Nothing reached Object.prototype.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // No refused request turned the user's 2FA off (the failed verifications may have locked it: that is their job).
    const status = await t.app.inject({ url: `/status/${encodeURIComponent(USER)}`, headers: t.auth });
    expect(status.json()).toMatchObject({ enabled: true, methods: { totp: 'active' } });
  }, 120_000);
});

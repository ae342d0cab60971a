import { describe, expect, it } from 'vitest';
import { CENSOR, censorSecrets, createLogger } from '../../src/logger.js';
import { captured, captureStream, leaks, mustNotLog } from '../helpers/log-capture.js';

// What reaches a log line: secret fields censored at any depth, everything else as given.

const lastLine = () => JSON.parse(captured.lines[captured.lines.length - 1] as string) as Record<string, unknown>;

describe('log censoring', () => {
  it('censors secret fields at the top, in nested objects, in arrays and in child bindings', () => {
    const logger = createLogger('info', captureStream());
    mustNotLog('123456', 'key-abcdef', 'sig-abcdef', 'seed-abcdef', 'deep-secret-1');
    logger.info(
      {
        otp: '123456',
        user: { profile: { code: '123456', name: 'ann' } },
        attempts: [{ otp_code: '123456', ok: false }, 'plain'],
        req: { headers: { 'x-api-key': 'key-abcdef', 'x-signature': 'sig-abcdef', host: 'h' } },
        a: { b: { c: { d: { e: { f: { g: { seed: 'seed-abcdef' } } } } } } },
        deep: { l1: { l2: { l3: { l4: { l5: { l6: { l7: { l8: { l9: 'deep-secret-1' } } } } } } } } },
      },
      'fields',
    );
    const child = createLogger('info', captureStream()).child({ apiKey: 'key-abcdef', component: 'x' });
    child.info('bound');
    expect(leaks()).toEqual([]);

    captured.lines.pop();
    const line = lastLine();
    expect(line.otp).toBe(CENSOR);
    expect(line.user).toEqual({ profile: { code: CENSOR, name: 'ann' } });
    expect(line.attempts).toEqual([{ otp_code: CENSOR, ok: false }, 'plain']);
    expect(line.req).toEqual({ headers: { 'x-api-key': CENSOR, 'x-signature': CENSOR, host: 'h' } });
    expect(JSON.stringify(line.a)).toContain(CENSOR);
    expect(line.msg).toBe('fields');
  });

  it('returns an object without secret fields as it is, and never changes the caller object', () => {
    const line = { method: 'GET', path: '/generate-2fa', status: 200, latency_ms: 0.5, nested: { ok: true } };
    expect(censorSecrets(line)).toBe(line);
    const withSecret = { code: '654321', nested: { otp: '654321', n: 1 } };
    const out = censorSecrets(withSecret);
    expect(out).toEqual({ code: CENSOR, nested: { otp: CENSOR, n: 1 } });
    expect(withSecret).toEqual({ code: '654321', nested: { otp: '654321', n: 1 } });
  });

  it('leaves errors and other class instances to the serializers, and undefined fields out', () => {
    const err = new Error('boom');
    const buf = Buffer.from('x');
    const obj = { err, buf, code: undefined };
    expect(censorSecrets(obj)).toBe(obj);
    const logger = createLogger('info', captureStream());
    logger.error({ err, code: undefined }, 'failed');
    const line = lastLine();
    expect((line.err as { message: string }).message).toBe('boom');
    expect('code' in line).toBe(false);
  });
});

it('censors an object that contains itself instead of following it, so nothing inside leaks', () => {
  const looped: Record<string, unknown> = { code: '987654', note: 'n' };
  looped.self = looped;
  looped.list = [looped];
  const out = censorSecrets(looped) as Record<string, unknown>;
  expect(out.code).toBe(CENSOR);
  expect(out.self).toBe(CENSOR);
  expect(out.list).toEqual([CENSOR]);
  const logger = createLogger('info', captureStream());
  mustNotLog('987654');
  logger.info({ looped }, 'cycle');
  expect(leaks()).toEqual([]);
});

it('the leak check finds a code standing alone in a line, not one that a random request id happens to contain', () => {
  mustNotLog('159376');
  const lines = ['{"reqId":"3159376b-21d9-4f13-a089-f7f7dde7e60a","msg":"request"}', '{"code":"159376","msg":"oops"}', 'otp=159376&x'];
  captured.lines.push(...lines);
  try {
    expect(leaks().map((l) => l.line)).toEqual(lines.slice(1));
  } finally {
    captured.lines.splice(captured.lines.length - lines.length, lines.length);
  }
});

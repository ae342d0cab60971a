import { describe, expect, it } from 'vitest';
import { summarize, type Sample } from '../../bench/load.js';
import { judged } from '../../bench/report.js';

// The benchmark measures a route in slices (bench/run.ts) and reports them as one run: the
// numbers of the whole must be those of all its responses, not an average of the slices'.

const sample = (latencies: number[], seconds: number, statuses: Record<string, number>, outcomes?: Record<string, number>): Sample => ({
  requests: latencies.length,
  seconds,
  latencies: Float64Array.from(latencies),
  statuses,
  ...(outcomes ? { outcomes } : {}),
  unexpected: 0,
  errors: 0,
  timeouts: 0,
});

describe('summarize (slices of one route as one result)', () => {
  it('rates over the total time and percentiles over every response of every slice', () => {
    // 90 fast responses in a long slice, 10 slow ones in a short one: averaging the slices'
    // rates (45 and 10 req/s) or their medians (1 and 9 ms) would be wrong.
    const fast = sample(Array.from({ length: 90 }, () => 1), 2, { 200: 90 }, { valid_false: 90 });
    const slow = sample(Array.from({ length: 10 }, (_, i) => 9 + i / 10), 1, { 200: 9, 401: 1 }, { valid_false: 9, valid_true: 1 });
    const r = summarize([fast, slow]);
    expect(r.requests).toBe(100);
    expect(r.seconds).toBe(3);
    expect(r.rps).toBeCloseTo(33.3, 1);
    expect(r.p50Ms).toBe(1);
    // the 99th of 100 sorted latencies: the second slowest
    expect(r.p99Ms).toBe(9.8);
    expect(r.statuses).toEqual({ 200: 99, 401: 1 });
    expect(r.outcomes).toEqual({ valid_false: 99, valid_true: 1 });
  });

  it('an empty measurement is zero, not NaN', () => {
    expect(summarize([sample([], 1, {})])).toMatchObject({ requests: 0, rps: 0, p50Ms: 0, p99Ms: 0 });
  });
});

describe('judged (a target\'s value as the report shows it)', () => {
  it('never shows a miss as the target or a hit below it', () => {
    expect(judged(0.898, 0.9)).toBe('0.898');
    expect(judged(0.8996, 0.9)).toBe('0.899');
    expect(judged(0.796, 0.8)).toBe('0.796');
    expect(judged(0.9, 0.9)).toBe('0.9');
    expect(judged(0.874, 0.9)).toBe('0.87');
    expect(judged(0.71, 0.8)).toBe('0.71');
    expect(judged(1.7912, 0.8)).toBe('1.79');
  });
});

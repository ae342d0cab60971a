import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';

// Keeps `npm run bench` working: the whole benchmark, one second per run, on a few users,
// from source, into a temporary directory (bench/RESULTS.md is left alone). Only the shape of
// the output is checked; speed is judged by the benchmark itself, never by a test.

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');

describe('npm run bench (tiny mode)', () => {
  const out = mkdtempSync(join(tmpdir(), 'tfa-bench-smoke-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('measures every route against the baseline and writes RESULTS.md and results.json', async () => {
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      BENCH_DURATION: '1',
      BENCH_SLICES: '1',
      BENCH_WARMUP: '0',
      BENCH_CONNECTIONS: '4',
      BENCH_USERS_SMALL: '200',
      BENCH_USERS_LARGE: '1000',
      BENCH_GROWTH_ROUNDS: '1',
      BENCH_OPENSSL_SECONDS: '1',
      BENCH_FROM_SOURCE: '1',
      BENCH_KEYS_DIR: inject('keysDir'),
      BENCH_OUT_DIR: out,
      BENCH_TIME_LIMIT_SECONDS: '50',
    };
    await run(process.execPath, ['--import', 'tsx', 'bench/run.ts'], { cwd: root, env, timeout: 55_000, maxBuffer: 8 * 1024 * 1024 });

    expect(existsSync(join(out, 'RESULTS.md'))).toBe(true);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results).toMatchObject({
      date: expect.any(String),
      machine: { cpu_model: expect.any(String), cores: expect.any(Number), node: process.version },
      baseline: { rps: expect.any(Number), p50_ms: expect.any(Number), p99_ms: expect.any(Number) },
      openssl: { privateOpsPerSecond: expect.any(Number) },
      service_peak_rss_mb: expect.any(Number),
    });
    expect(results.baseline.rps).toBeGreaterThan(0);
    // Each route is measured with its own baseline run (slices: one each, here; bench/load.ts merges more).
    expect(results.settings).toMatchObject({ slices: 1, slice_seconds: 1 });
    expect(results.baseline.runs).toHaveLength(results.routes.length);
    // ... and that run was sent the route's own requests, all answered 200 by the trivial route.
    expect(results.baseline.runs.map((b: { request: string }) => b.request)).toEqual(
      results.routes.map((r: { label: string }) => /^(GET|POST) \/[a-z0-9/-]+/.exec(r.label)?.[0]),
    );
    for (const b of results.baseline.runs) expect(Object.keys(b.statuses), b.request).toEqual(['200']);

    const keys = results.routes.map((r: { key: string }) => r.key);
    expect(keys).toEqual(
      expect.arrayContaining(['generate_2fa', 'verify_2fa_valid', 'verify_2fa_invalid', 'otp_secure_signed', 'decrypt_seed', 'totp_verify_small', 'totp_verify_large']),
    );
    expect(results.routes.find((r: { key: string }) => r.key === 'totp_verify_large').users).toBe(1000);
    expect(results.enrolment.map((e: { users: number }) => e.users)).toEqual([200, 1000]);
    // The growth target's pairs: wrong codes on each population, back to back.
    expect(results.growth).toMatchObject({ users_small: 200, users_large: 1000, rounds: [{ small_rps: expect.any(Number), large_rps: expect.any(Number) }] });
    expect(results.targets.map((t: { target: string }) => t.target)).toEqual(expect.arrayContaining([expect.stringMatching(/^POST \/totp\/verify \(wrong codes\): req\/s at 1000 users vs 200 users/)]));
    for (const r of results.routes) {
      expect(r, r.key).toMatchObject({
        rps: expect.any(Number),
        p50Ms: expect.any(Number),
        p99Ms: expect.any(Number),
        ratio_to_baseline: expect.any(Number),
        peak_rss_mb: expect.any(Number),
        load_generator_cpu_percent: expect.any(Number),
        baseline_load_generator_cpu_percent: expect.any(Number),
      });
      expect(r.requests, r.key).toBeGreaterThan(0);
      // Every response is one the scenario was built to receive: no 401 from a wrong key or a
      // bad signature, no 5xx. A broken scenario would otherwise measure an error path.
      expect(r.unexpected, `${r.key}: ${JSON.stringify(r.statuses)}`).toBe(0);
    }
    expect(results.routes.find((r: { key: string }) => r.key === 'decrypt_seed').ratio_to_openssl).toEqual(expect.any(Number));
    // A route that writes reports how long the checkpointer held its writes (from /metrics).
    expect(Number.isFinite(results.routes.find((r: { key: string }) => r.key === 'verify_2fa_invalid').writer_paused_percent)).toBe(true);
    const md = readFileSync(join(out, 'RESULTS.md'), 'utf8');
    expect(md).toContain('| GET /generate-2fa |');
    expect(md).toContain(results.machine.cpu_model);
    expect(md).toContain('## Targets');
  }, 60_000); // about 15 s alone; the margin is for a busy machine running the other test files
});

import { resolve } from 'node:path';

// The benchmark's knobs, read from BENCH_* variables once. The defaults are the full run that
// writes bench/RESULTS.md; the smoke test sets a tiny run that writes to a temporary directory.

export type BenchOptions = {
  /** Seconds of measured load per route (same for the baseline and every route). */
  durationSeconds: number;
  /**
   * Each route's measured time is cut into this many slices, alternating with as many slices of
   * the baseline (and the growth pairs' two populations likewise), so both sides of a ratio are
   * measured on nearly the same machine.
   */
  slices: number;
  /** Seconds of unmeasured load before each measured run, so the JIT and caches are warm. */
  warmupSeconds: number;
  /** Concurrent HTTP/1.1 connections (no pipelining), same for every run. */
  connections: number;
  /** The two enrolled-user populations POST /totp/verify draws from. */
  usersSmall: number;
  usersLarge: number;
  /** Where RESULTS.md and results.json go. */
  outDir: string;
  /** Run the service from the TypeScript sources with tsx instead of compiling it first. */
  fromSource: boolean;
  /** `openssl speed -seconds N rsa4096`: the N is 3. */
  opensslSeconds: number;
  /** An existing directory with private_key.pem and public_key.pem, to skip generating a pair. */
  keysDir: string | undefined;
  /** The repository root (the service is started from here). */
  root: string;
  /** When set, the service runs with --cpu-prof and writes its profile here (for finding costs). */
  profileDir: string | undefined;
  /** When set, only the routes with these keys are measured (the baseline always is). */
  only: string[] | undefined;
  /** Both processes run with --perf-basic-prof, so `perf record -p <pid>` names JavaScript frames. */
  perf: boolean;
  /** Alternating wrong-code runs on the small and the large population, for the growth target. */
  growthRounds: number;
};

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be a whole number from ${min} to ${max}`);
  return n;
}

export function benchOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const root = resolve(import.meta.dirname, '..');
  const usersSmall = int(env, 'BENCH_USERS_SMALL', 10_000, 1, 10_000_000);
  const usersLarge = int(env, 'BENCH_USERS_LARGE', 1_000_000, 1, 10_000_000);
  if (usersLarge < usersSmall) throw new Error('BENCH_USERS_LARGE must not be below BENCH_USERS_SMALL');
  return {
    durationSeconds: int(env, 'BENCH_DURATION', 10, 1, 300),
    slices: int(env, 'BENCH_SLICES', 5, 1, 60),
    warmupSeconds: int(env, 'BENCH_WARMUP', 2, 0, 60),
    connections: int(env, 'BENCH_CONNECTIONS', 10, 1, 1000),
    usersSmall,
    usersLarge,
    outDir: resolve(env.BENCH_OUT_DIR && env.BENCH_OUT_DIR.trim() !== '' ? env.BENCH_OUT_DIR : resolve(root, 'bench')),
    fromSource: ['1', 'true', 'yes'].includes((env.BENCH_FROM_SOURCE ?? '').toLowerCase()),
    opensslSeconds: int(env, 'BENCH_OPENSSL_SECONDS', 3, 1, 60),
    keysDir: env.BENCH_KEYS_DIR && env.BENCH_KEYS_DIR.trim() !== '' ? resolve(env.BENCH_KEYS_DIR) : undefined,
    root,
    profileDir: env.BENCH_PROFILE_DIR && env.BENCH_PROFILE_DIR.trim() !== '' ? resolve(env.BENCH_PROFILE_DIR) : undefined,
    only: env.BENCH_ONLY && env.BENCH_ONLY.trim() !== '' ? env.BENCH_ONLY.split(',').map((k) => k.trim()) : undefined,
    perf: ['1', 'true', 'yes'].includes((env.BENCH_PERF ?? '').toLowerCase()),
    growthRounds: int(env, 'BENCH_GROWTH_ROUNDS', 3, 1, 20),
  };
}

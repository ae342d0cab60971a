import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad, summarize, type LoadResult, type Sample, type Scenario } from './load.js';
import { opensslEncryptSeed, opensslKeyPair, opensslSpeed, type OpensslSpeed } from './openssl.js';
import { benchOptions } from './options.js';
import { buildCompiled, freePort, imageNodeOptions, rssSampler, sourceEntries, startProcess, type Managed } from './processes.js';
import { contention, evaluateTargets, machine, markdown, mb, readAnalysis, type Growth, type Results, type RouteResult } from './report.js';
import { rpaScenarios } from './scenarios.js';
import { userPhases, type UserPhase } from './users.js';

// `npm run bench`: issue 5. One run, one machine: the baseline and the service as separate
// processes, the same autocannon settings for each, results to bench/RESULTS.md and results.json.

const opts = benchOptions();
const t0 = performance.now();
const log = (msg: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
const work = mkdtempSync(join(tmpdir(), 'tfa-bench-'));
const procs: Managed[] = [];

async function main(): Promise<void> {
  const info = machine();
  log(`${info.cpu_model}, ${info.cores} cores, Node ${info.node}; working in ${work}`);
  const keysDir = join(work, 'keys');
  const logDir = join(work, 'logs');
  const dataDir = join(work, 'data');
  // Each user population has a database and a service process of its own (users.ts).
  const dataDirSmall = join(work, 'data-small');
  const dataDirLarge = join(work, 'data-large');
  for (const d of [keysDir, logDir, dataDir, dataDirSmall, dataDirLarge]) mkdirSync(d, { recursive: true });
  // --perf-basic-prof also writes V8's code log, by default into the working directory (the
  // repository): into the run's own log directory instead.
  const perfArgs = (name: string) => ['--perf-basic-prof', '--no-logfile-per-isolate', `--logfile=${join(logDir, `${name}-v8.log`)}`];
  const privateKeyPath = join(keysDir, 'private_key.pem');
  const publicKeyPath = join(keysDir, 'public_key.pem');
  if (opts.keysDir) {
    copyFileSync(join(opts.keysDir, 'private_key.pem'), privateKeyPath);
    copyFileSync(join(opts.keysDir, 'public_key.pem'), publicKeyPath);
  } else {
    log('generating an RSA-4096 key pair with openssl');
    await opensslKeyPair(privateKeyPath, publicKeyPath);
  }

  // openssl first, while nothing else runs on the machine.
  log(`openssl speed -seconds ${opts.opensslSeconds} rsa4096`);
  const openssl: OpensslSpeed = await opensslSpeed(opts.opensslSeconds);
  log(`openssl: ${openssl.privateOpsPerSecond} private ops/s`);

  log(opts.fromSource ? 'running the service from source (tsx)' : 'compiling the service and the baseline');
  const entries = opts.fromSource ? sourceEntries(opts.root) : await buildCompiled(opts.root);

  const apiKey = randomBytes(32).toString('base64url');
  const dataKey = randomBytes(32).toString('base64');
  // Production settings; only the limits that would otherwise refuse a load generator hammering
  // from one address are raised (documented in bench/README.md).
  const nodeOptions = imageNodeOptions(opts.root);
  const serviceEnv: Record<string, string> = {
    NODE_ENV: 'production',
    NODE_OPTIONS: nodeOptions,
    LOG_LEVEL: 'info',
    API_KEY: apiKey,
    DATA_KEY: dataKey,
    KEYS_DIR: keysDir,
    PRIVATE_KEY_PATH: privateKeyPath,
    PUBLIC_KEY_PATH: publicKeyPath,
    RATE_LIMIT_MAX: '100000',
    RATE_LIMIT_WINDOW_SECONDS: '1',
    LOCKOUT_THRESHOLD: '100',
  };
  const baseline = await startProcess({
    name: 'baseline',
    entry: entries.baseline,
    fromSource: opts.fromSource,
    env: { NODE_ENV: 'production', LOG_LEVEL: 'info' },
    port: await freePort(),
    cwd: opts.root,
    logDir,
    readyPath: '/baseline',
    ...(opts.profileDir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', opts.profileDir, '--cpu-prof-name', 'baseline.cpuprofile'] } : opts.perf ? { nodeArgs: perfArgs('baseline') } : {}),
  });
  procs.push(baseline);
  // The service processes: one for the RPA routes, and one per user population (below), each on
  // a database of its own, with the same settings.
  const startService = async (name: string, dir: string): Promise<{ proc: Managed; url: string }> => {
    const proc = await startProcess({
      name,
      entry: entries.server,
      fromSource: opts.fromSource,
      env: { ...serviceEnv, DATA_DIR: dir, CRON_DIR: join(work, `cron-${name}`) },
      port: await freePort(),
      cwd: opts.root,
      logDir,
      readyPath: '/health',
      ...(opts.profileDir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] } : opts.perf ? { nodeArgs: perfArgs(name) } : {}),
    });
    procs.push(proc);
    return { proc, url: `http://127.0.0.1:${proc.port}` };
  };
  const { proc: service, url: serviceUrl } = await startService('service', dataDir);

  // The seed goes in the way a client sends it: openssl-encrypted, through POST /decrypt-seed.
  const seed = randomBytes(32);
  const encryptedSeed = opensslEncryptSeed(seed.toString('hex'), publicKeyPath);
  const set = await fetch(`${serviceUrl}/decrypt-seed`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
    body: JSON.stringify({ encrypted_seed: encryptedSeed }),
  });
  if (set.status !== 200) throw new Error(`setting the seed answered ${set.status}: ${await set.text()}`);

  const settings = { connections: opts.connections, durationSeconds: opts.durationSeconds };
  type Run = LoadResult & {
    peak_rss_mb: number;
    cpu_us_per_request: number;
    /** This process's CPU (autocannon and the scenario's per-request work) over the run's wall time, % of one core. */
    load_generator_cpu_percent: number;
    writes_per_commit?: number;
    /** Share of the run's measured time the checkpointer held the service's writes (checkpointer.ts), %. */
    writer_paused_percent?: number;
  };
  const wanted = (s: Scenario) => !opts.only || opts.only.includes(s.key);
  // The service's group commit (src/db/group-commit.ts), from its /metrics: how many writes
  // shared each SQLite transaction during a run, and how long the checkpointer held them.
  const writeStats = async (url: string): Promise<[number, number, number]> => {
    const text = await (await fetch(`${url}/metrics`, { headers: { 'x-api-key': apiKey } })).text();
    const n = (name: string) => Number(new RegExp(`^${name} ([\\d.]+)$`, 'm').exec(text)?.[1] ?? NaN);
    return [n('sqlite_writes_total'), n('sqlite_write_transactions_total'), n('sqlite_writer_paused_seconds_total')];
  };

  // What is measured: a scenario against one process.
  type Side = { proc: Managed; url: string; s: Scenario; isService: boolean };
  const sliceSeconds = opts.durationSeconds / opts.slices;
  const warmUp = async (side: Side) => {
    if (opts.warmupSeconds > 0) await runLoad(side.url, side.s, { ...settings, durationSeconds: opts.warmupSeconds });
  };
  /**
   * Two sides measured in alternation, `durationSeconds` each, in `slices` slices: a b, b a, a b...
   * On a shared machine the capacity moves by tens of percent from one minute to the next (the
   * hypervisor lends our CPUs to others); slices seconds apart put both sides of a ratio on
   * nearly the same machine, where runs ten seconds long and one after the other did not.
   */
  const alternate = async (a: Side, b: Side): Promise<[Run, Run]> => {
    const sides = [a, b] as const;
    const acc = sides.map(() => ({ samples: [] as Sample[], cpuSeconds: 0, peak: 0, clientCpuSeconds: 0 }));
    const writesBefore = await Promise.all(sides.map((x) => (x.isService ? writeStats(x.url) : null)));
    for (let i = 0; i < opts.slices; i++) {
      for (const j of i % 2 === 0 ? [0, 1] : [1, 0]) {
        const side = sides[j] as Side;
        const into = acc[j] as (typeof acc)[number];
        const sampler = rssSampler(side.proc);
        const cpuBefore = side.proc.cpuSeconds();
        const clientBefore = process.cpuUsage();
        into.samples.push(await runLoad(side.url, side.s, { ...settings, durationSeconds: sliceSeconds }));
        const client = process.cpuUsage(clientBefore);
        into.clientCpuSeconds += (client.user + client.system) / 1e6;
        into.cpuSeconds += side.proc.cpuSeconds() - cpuBefore;
        into.peak = Math.max(into.peak, sampler.stop());
      }
    }
    const runs = await Promise.all(
      sides.map(async (side, j): Promise<Run> => {
        const { samples, cpuSeconds, peak, clientCpuSeconds } = acc[j] as (typeof acc)[number];
        const r = summarize(samples);
        const clientPercent = r.seconds > 0 ? Math.round((clientCpuSeconds / r.seconds) * 1000) / 10 : 0;
        const cpuUsPerRequest = r.requests > 0 ? Math.round((cpuSeconds / r.requests) * 1e6 * 10) / 10 : 0;
        let writesPerCommit: number | undefined;
        let pausedPercent: number | undefined;
        const before = writesBefore[j];
        if (before) {
          const [writes, commits, paused] = await writeStats(side.url);
          if (commits > before[1]) writesPerCommit = Math.round(((writes - before[0]) / (commits - before[1])) * 100) / 100;
          if (commits > before[1] && r.seconds > 0) pausedPercent = Math.round(((paused - before[2]) / r.seconds) * 1000) / 10;
        }
        return {
          ...r,
          peak_rss_mb: mb(peak),
          cpu_us_per_request: cpuUsPerRequest,
          load_generator_cpu_percent: clientPercent,
          ...(writesPerCommit !== undefined ? { writes_per_commit: writesPerCommit } : {}),
          ...(pausedPercent !== undefined ? { writer_paused_percent: pausedPercent } : {}),
        };
      }),
    );
    for (const [j, r] of runs.entries()) {
      log(
        `${sides[j]?.s.label}: ${r.rps} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.cpu_us_per_request} µs CPU/req, RSS ${r.peak_rss_mb} MB, load generator ${r.load_generator_cpu_percent} % CPU` +
          `${r.writes_per_commit !== undefined ? `, ${r.writes_per_commit} writes/commit` : ''}` +
          `${r.writer_paused_percent !== undefined ? `, writes held ${r.writer_paused_percent} % of the time` : ''}${r.unexpected ? `, ${r.unexpected} UNEXPECTED` : ''}` +
          ` (${opts.slices} slices of ${sliceSeconds} s: ${acc[j]?.samples.map((x) => Math.round(x.requests / x.seconds)).join(', ')} req/s)`,
      );
    }
    return [runs[0] as Run, runs[1] as Run];
  };

  // Each route is measured in alternation with the baseline, which is sent requests of the
  // route's shape (baseline-server.ts answers them trivially), and compared with the baseline
  // slices around its own.
  const baselineUrl = `http://127.0.0.1:${baseline.port}`;
  const baselineRuns: (Run & { request: string })[] = [];
  const notes: string[] = [];
  /** A route's run and the baseline's run measured with it. */
  type Measured = { s: Scenario; r: Run; users?: number; base: Run };
  const measured: Measured[] = [];
  const measureRoute = async (s: Scenario, users?: number, on: { proc: Managed; url: string } = { proc: service, url: serviceUrl }) => {
    if (!wanted(s)) return;
    const side: Side = { ...on, s, isService: true };
    // Requests of the same shape: one request made by the route's scenario (method, path and
    // query, headers, body), sent again and again. The baseline checks no code or signature, so
    // it needs no fresh ones, and the load generator spends nothing per request on it: made
    // fresh, they cost autocannon ~30 µs more per request, enough for it, not the baseline, to
    // set the baseline's rate.
    const one = s.perRequest?.() ?? {};
    const sameShape: Scenario = {
      key: `baseline_${s.key}`,
      label: `${s.label} on the baseline`,
      method: s.method,
      path: one.path ?? s.path,
      headers: { ...s.headers, ...one.headers },
      ...(one.body !== undefined || s.body !== undefined ? { body: one.body ?? s.body } : {}),
      expect: [200],
    };
    const baselineSide: Side = { proc: baseline, url: baselineUrl, s: sameShape, isService: false };
    await warmUp(baselineSide);
    await warmUp(side);
    const [base, r] = await alternate(baselineSide, side);
    if (base.unexpected > 0) throw new Error(`the baseline does not answer ${s.method} ${s.path} with 200 (${JSON.stringify(base.statuses)}): add it to bench/baseline-server.ts`);
    baselineRuns.push({ ...base, request: `${sameShape.method} ${sameShape.path.split('?')[0]}` });
    // Near a whole core, autocannon rather than the process under load sets the rate.
    if (base.load_generator_cpu_percent >= 90) {
      notes.push(`${s.label}: the load generator used ${base.load_generator_cpu_percent} % of a core during the baseline's slices, so the baseline's rate may be the load generator's, and the ratio too high.`);
    }
    measured.push({ s, r, ...(users !== undefined ? { users } : {}), base });
  };

  const rpa = rpaScenarios({ apiKey, hmacSecret: apiKey, seed, encryptedSeed, totpWindow: 1 });
  for (const s of [rpa.generate, rpa.verifyInvalid, rpa.verifyValid, rpa.otpSecure]) await measureRoute(s);

  // Per-user verification on a small and a large enrolled population, each on its own database
  // and service process, started here: two processes with the same history
  // (enrolment, then the same runs), so that a growth pair compares the populations and nothing
  // else (not a process that has served the RPA routes, with other JIT and heap state).
  const enrolment: Record<string, unknown>[] = [];
  const usersWanted = !opts.only || opts.only.some((k) => k.startsWith('totp_verify'));
  const small = usersWanted ? await startService('service-small', dataDirSmall) : { proc: service, url: serviceUrl };
  const large = usersWanted ? await startService('service-large', dataDirLarge) : { proc: service, url: serviceUrl };
  const phases: UserPhase[] = usersWanted
    ? await userPhases({
        dataKey,
        apiKey,
        small: { users: opts.usersSmall, dataDir: dataDirSmall, serviceUrl: small.url },
        large: { users: opts.usersLarge, dataDir: dataDirLarge, serviceUrl: large.url },
        log,
      })
    : [];
  for (const phase of phases) {
    if (phase.kind === 'unavailable') {
      notes.push(phase.why);
      continue;
    }
    if (phase.enrol) enrolment.push(await phase.enrol());
    await measureRoute(phase.scenario, phase.users, phase.population === 'small' ? small : large);
  }

  // The growth with the user count: wrong codes (the same path whatever the population) on the
  // small and the large population, in alternating slices, `growthRounds` pairs. Minutes apart,
  // the two runs above also measure the machine's drift; slices seconds apart, much less.
  const growth: Growth['rounds'] = [];
  const ready = phases.filter((p): p is Extract<UserPhase, { kind: 'ready' }> => p.kind === 'ready' && !p.valid);
  const smallWrong = ready.find((p) => p.population === 'small');
  const largeWrong = ready.find((p) => p.population === 'large');
  if (smallWrong && largeWrong && wanted(smallWrong.scenario) && wanted(largeWrong.scenario)) {
    for (let round = 1; round <= opts.growthRounds; round++) {
      const [a, b] = await alternate({ ...small, s: smallWrong.scenario, isService: true }, { ...large, s: largeWrong.scenario, isService: true });
      growth.push({
        small_rps: a.rps,
        large_rps: b.rps,
        small_cpu_us: a.cpu_us_per_request,
        large_cpu_us: b.cpu_us_per_request,
        ...(a.writer_paused_percent !== undefined && b.writer_paused_percent !== undefined
          ? { small_writer_paused_percent: a.writer_paused_percent, large_writer_paused_percent: b.writer_paused_percent }
          : {}),
      });
    }
  }

  // Last: every decrypt-seed replaces the seed (with the same value) and so resets its replay state.
  await measureRoute(rpa.decryptSeed);

  const baselineMean = (f: (r: Run) => number) => (baselineRuns.length > 0 ? baselineRuns.reduce((a, r) => a + f(r), 0) / baselineRuns.length : 0);
  const baseRps = baselineMean((r) => r.rps);
  const servicePeak = mb(Math.max(service.peakRss(), small.proc.peakRss(), large.proc.peakRss(), ...measured.map((m) => m.r.peak_rss_mb * 2 ** 20)));

  const routes: RouteResult[] = measured.map(({ s, r, users, base }) => ({
    key: s.key,
    label: s.label,
    ...r,
    baseline_rps: Math.round(base.rps * 10) / 10,
    baseline_load_generator_cpu_percent: base.load_generator_cpu_percent,
    ratio_to_baseline: Math.round((r.rps / base.rps) * 1000) / 1000,
    cpu_ratio_to_baseline: r.cpu_us_per_request > 0 ? Math.round((base.cpu_us_per_request / r.cpu_us_per_request) * 1000) / 1000 : 0,
    ...(s.key === 'decrypt_seed' ? { ratio_to_openssl: Math.round((r.rps / openssl.privateOpsPerSecond) * 1000) / 1000 } : {}),
    ...(users !== undefined ? { users } : {}),
    ...(s.note ? { note: s.note } : {}),
  }));
  for (const r of routes) if (r.unexpected > 0) notes.push(`${r.label}: ${r.unexpected} responses had a status the scenario does not expect (${JSON.stringify(r.statuses)}).`);

  const partial: Omit<Results, 'targets'> = {
    date: new Date().toISOString(),
    commit: gitCommit(opts.root),
    machine: info,
    at_end: contention(),
    settings: {
      connections: opts.connections,
      duration_seconds: opts.durationSeconds,
      warmup_seconds: opts.warmupSeconds,
      slices: opts.slices,
      slice_seconds: sliceSeconds,
      pipelining: 1,
      service_build: opts.fromSource ? 'run from source with tsx' : 'compiled with tsc (tsconfig.build.json)',
      log_level: 'info',
      node_options: nodeOptions,
      users_small: opts.usersSmall,
      users_large: opts.usersLarge,
      growth_rounds: opts.growthRounds,
      env_overrides: 'RATE_LIMIT_MAX=100000 RATE_LIMIT_WINDOW_SECONDS=1 LOCKOUT_THRESHOLD=100',
    },
    baseline: {
      label: 'one request of each route\'s shape, sent again and again, answered with a trivial JSON object',
      rps: Math.round(baseRps * 10) / 10,
      p50_ms: Math.round(baselineMean((r) => r.p50Ms) * 1000) / 1000,
      p99_ms: Math.round(baselineMean((r) => r.p99Ms) * 1000) / 1000,
      runs: baselineRuns,
    },
    openssl,
    enrolment,
    routes,
    ...(growth.length > 0 ? { growth: { users_small: opts.usersSmall, users_large: opts.usersLarge, rounds: growth } } : {}),
    service_peak_rss_mb: servicePeak,
    notes,
  };
  const results: Results = { ...partial, targets: evaluateTargets(partial) };
  mkdirSync(opts.outDir, { recursive: true });
  writeFileSync(join(opts.outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(opts.outDir, 'RESULTS.md'), markdown(results, readAnalysis(join(opts.root, 'bench', 'analysis.md'))));
  log(`wrote ${join(opts.outDir, 'RESULTS.md')} and results.json`);
  for (const t of results.targets) log(`${t.met ? 'met    ' : 'MISSED '} ${t.target}: ${t.got} (wanted ${t.wanted})`);
}

/** The commit measured, marked dirty when the tree has uncommitted changes (others at work). */
function gitCommit(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root }).toString().trim() !== '';
    return dirty ? `${head} (with uncommitted changes)` : head;
  } catch {
    return 'unknown';
  }
}

async function cleanup(): Promise<void> {
  for (const p of procs.reverse()) await p.stop().catch(() => undefined);
  if (!process.env.BENCH_KEEP_WORKDIR) rmSync(work, { recursive: true, force: true });
}

// Bounded: whatever happens, the run ends (a wedged server must not hang CI or the smoke test).
const limitMs = Number(process.env.BENCH_TIME_LIMIT_SECONDS ?? '1800') * 1000;
const watchdog = setTimeout(() => {
  log(`time limit of ${limitMs / 1000} s reached; stopping`);
  void cleanup().finally(() => process.exit(2));
}, limitMs);
watchdog.unref();

main()
  .then(cleanup, async (err: unknown) => {
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await cleanup();
    process.exitCode = 1;
  })
  .finally(() => clearTimeout(watchdog));

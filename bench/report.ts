import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import type { LoadResult } from './load.js';
import type { OpensslSpeed } from './openssl.js';

// results.json and RESULTS.md: the numbers, the machine they were taken on, and each target of
// issue 5 with whether it was met.

/**
 * How busy the machine is besides us: load average, CPU pressure where the kernel has PSI, and
 * the cumulative CPU ticks of /proc/stat (steal: time the hypervisor gave our virtual CPUs to
 * someone else), so that the share stolen during the run can be reported.
 */
export type Contention = { load_average: number[]; cpu_pressure_some_avg60: number | null; cpu_ticks?: { steal: number; total: number } };

export function contention(): Contention {
  let pressure: number | null = null;
  try {
    const m = /^some avg10=[\d.]+ avg60=([\d.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    pressure = m ? Number(m[1]) : null;
  } catch {
    // no PSI on this kernel
  }
  let ticks: Contention['cpu_ticks'];
  try {
    const f = (/^cpu\s+(.*)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? '').trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    if (f.length >= 8) ticks = { steal: f[7] as number, total: f.slice(0, 8).reduce((a, b) => a + b, 0) };
  } catch {
    // not Linux
  }
  return { load_average: loadavg().map((l) => Math.round(l * 100) / 100), cpu_pressure_some_avg60: pressure, ...(ticks ? { cpu_ticks: ticks } : {}) };
}

/** The share of the machine's CPU time stolen by the hypervisor between two readings, in %. */
export function stolenPercent(start: Contention, end: Contention): number | null {
  if (!start.cpu_ticks || !end.cpu_ticks) return null;
  const total = end.cpu_ticks.total - start.cpu_ticks.total;
  return total > 0 ? Math.round(((end.cpu_ticks.steal - start.cpu_ticks.steal) / total) * 1000) / 10 : null;
}

export type Machine = { cpu_model: string; cores: number; memory_gib: number; node: string; platform: string; at_start: Contention };

export function machine(): Machine {
  const c = cpus();
  return {
    cpu_model: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    at_start: contention(),
  };
}

export type RouteResult = LoadResult & {
  key: string;
  label: string;
  /** The baseline measured in slices alternating with this route's. */
  baseline_rps: number;
  ratio_to_baseline: number;
  /** Service CPU time per request (user + system). */
  cpu_us_per_request: number;
  /** Baseline CPU per request / this route's: what the ratio would be with a whole core each. */
  cpu_ratio_to_baseline: number;
  peak_rss_mb: number;
  /** The bench process's CPU (autocannon and the per-request work) during the route's slices, % of one core. */
  load_generator_cpu_percent: number;
  /** The same during the baseline's slices: near 100, the load generator set the baseline's rate. */
  baseline_load_generator_cpu_percent: number;
  /** Writes per SQLite transaction during the run (group commit); absent for routes that write nothing. */
  writes_per_commit?: number;
  /** Share of the run's measured time the checkpointer held the writes, %; absent for routes that write nothing. */
  writer_paused_percent?: number;
  ratio_to_openssl?: number;
  users?: number;
  note?: string;
};

export type Target = { target: string; wanted: string; got: string; met: boolean; why?: string };

/** Wrong-code POST /totp/verify on the two populations, measured back to back in rounds. */
export type Growth = {
  users_small: number;
  users_large: number;
  rounds: {
    small_rps: number;
    large_rps: number;
    small_cpu_us: number;
    large_cpu_us: number;
    /** Share of each side's measured time its writes were held for a checkpoint (checkpointer.ts), %. */
    small_writer_paused_percent?: number;
    large_writer_paused_percent?: number;
  }[];
};

const median = (xs: number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? (v[m] as number) : ((v[m - 1] as number) + (v[m] as number)) / 2;
};

/** Per round, large / small (req/s) and small / large (CPU per request): 1 is no growth. */
export function growthRatios(g: Growth): { rps: number; cpu: number; rpsPerRound: number[] } {
  const rpsPerRound = g.rounds.map((r) => r.large_rps / r.small_rps);
  return { rps: median(rpsPerRound), cpu: median(g.rounds.map((r) => r.small_cpu_us / r.large_cpu_us)), rpsPerRound };
}

export type Results = {
  date: string;
  commit?: string;
  machine: Machine;
  at_end: Contention;
  settings: Record<string, string | number | boolean>;
  baseline: { label: string; rps: number; p50_ms: number; p99_ms: number; runs: (LoadResult & { peak_rss_mb: number; cpu_us_per_request: number; /** The route's requests it was sent, e.g. "POST /verify-2fa". */ request: string })[] };
  openssl: OpensslSpeed | null;
  enrolment: Record<string, unknown>[];
  routes: RouteResult[];
  growth?: Growth;
  service_peak_rss_mb: number;
  targets: Target[];
  notes: string[];
};

export const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const r2 = (n: number) => Math.round(n * 100) / 100;
/** Two decimals, unless they would round a miss up to the target (0.898 is not shown as 0.9) or a hit down. */
export const judged = (n: number, wanted: number) => (r2(n) >= wanted === n >= wanted ? `${r2(n)}` : `${(n >= wanted ? Math.ceil : Math.floor)(n * 1000) / 1000}`);

export function evaluateTargets(res: Omit<Results, 'targets'>): Target[] {
  const byKey = new Map(res.routes.map((r) => [r.key, r]));
  const targets: Target[] = [];
  const ratio = (key: string, wanted: number, name: string) => {
    const r = byKey.get(key);
    if (!r) return;
    targets.push({ target: `${name}: requests/s vs baseline`, wanted: `>= ${wanted}`, got: judged(r.ratio_to_baseline, wanted), met: r.ratio_to_baseline >= wanted });
  };
  ratio('generate_2fa', 0.8, 'GET /generate-2fa');
  for (const r of res.routes) if (r.key.startsWith('verify_2fa') || r.key.startsWith('totp_verify') || r.key === 'otp_secure_signed') ratio(r.key, 0.5, r.label);
  // Growth with the user count: wrong codes (the same path whatever the population; with current
  // codes the mix of successes and replays differs between the two), on the two populations in
  // alternating slices, so that the machine's drift over minutes does not enter the ratio.
  if (res.growth && res.growth.rounds.length > 0) {
    const g = growthRatios(res.growth);
    targets.push({
      target: `POST /totp/verify (wrong codes): req/s at ${res.growth.users_large} users vs ${res.growth.users_small} users, median of ${res.growth.rounds.length} pairs, each in alternating slices`,
      wanted: '>= 0.9 (within 10%)',
      got: `${judged(g.rps, 0.9)} (pairs: ${g.rpsPerRound.map(r2).join(', ')}; CPU per request ${r2(g.cpu)})`,
      met: g.rps >= 0.9,
    });
  }
  const seed = byKey.get('decrypt_seed');
  if (seed && seed.ratio_to_openssl !== undefined) {
    targets.push({
      target: 'POST /decrypt-seed vs openssl rsa4096 private ops/s (one core)',
      wanted: '>= 0.8',
      got: judged(seed.ratio_to_openssl, 0.8),
      met: seed.ratio_to_openssl >= 0.8,
    });
  }
  targets.push({ target: 'service peak RSS, whole run', wanted: '< 200 MB', got: `${res.service_peak_rss_mb} MB`, met: res.service_peak_rss_mb < 200 });
  return targets;
}

export function markdown(res: Results, analysis: string | null = null): string {
  const m = res.machine;
  const lines: string[] = [];
  lines.push('# Benchmark results', '');
  lines.push(
    `${res.date} on ${m.cpu_model}, ${m.cores} cores, ${m.memory_gib} GiB, Node ${m.node} (${m.platform}); ` +
      `load average ${m.at_start.load_average.join(' / ')} at the start, ${res.at_end.load_average.join(' / ')} at the end` +
      (m.at_start.cpu_pressure_some_avg60 !== null ? `; CPU pressure (PSI some avg60) ${m.at_start.cpu_pressure_some_avg60}% at the start, ${res.at_end.cpu_pressure_some_avg60}% at the end` : '') +
      (stolenPercent(m.at_start, res.at_end) !== null ? `; CPU time stolen by the hypervisor during the run: ${stolenPercent(m.at_start, res.at_end)}% of the machine's.` : '.'),
  );
  const s = res.settings;
  lines.push(
    '',
    `autocannon, ${s.connections} connections, no pipelining, ${s.duration_seconds} s per route after ${s.warmup_seconds} s of warm-up, ` +
      `in ${s.slices} slices of ${s.slice_seconds} s alternating with as many slices of the baseline; ` +
      `the service ${s.service_build} with NODE_ENV=production, ` +
      (s.node_options !== undefined ? `NODE_OPTIONS=${String(s.node_options)} (the image's) ` : '') +
      `and LOG_LEVEL=${s.log_level}, its log lines going to a file. ` +
      'Produced by `npm run bench` (bench/README.md explains it); results.json holds the same and more.',
    '',
  );
  lines.push(
    'Baseline: the same Fastify, logger and request-log plugin, sent requests of the same shape as each route\'s (one request ' +
      'made by the route\'s scenario: method, path and query, headers and body, sent again and again) and answering each with a ' +
      'trivial JSON object, so the framework\'s own cost for such a request is on both sides of the ratio. ' +
      `${res.baseline.runs.length} runs, one with each route, in slices alternating with the route's ` +
      `(baseline, route, route, baseline...): ${res.baseline.runs.map((r) => r.rps).join(', ')} req/s (mean **${res.baseline.rps}**, ` +
      `p50 ${res.baseline.p50_ms} ms, p99 ${res.baseline.p99_ms} ms). A route is compared with its own (the "baseline req/s" column), ` +
      'so both sides of the ratio were measured within the same seconds.',
  );
  if (res.openssl) lines.push('', `\`${res.openssl.command}\` (${res.openssl.version}): **${res.openssl.privateOpsPerSecond}** private RSA-4096 ops/s on one core.`);
  lines.push('', '| route | req/s | p50 ms | p99 ms | baseline req/s | × baseline | CPU µs/req (× baseline) | writes / commit (writes held %) | peak RSS MB | load generator CPU %, baseline / route | responses |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of res.routes) {
    const mix = Object.entries(r.outcomes ?? r.statuses)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
    const extra = r.ratio_to_openssl !== undefined ? ` (${r2(r.ratio_to_openssl)} × openssl)` : '';
    lines.push(`| ${r.label} | ${r.rps} | ${r.p50Ms} | ${r.p99Ms} | ${r.baseline_rps} | ${r2(r.ratio_to_baseline)}${extra} | ${r.cpu_us_per_request} (${r2(r.cpu_ratio_to_baseline)}) | ${r.writes_per_commit ?? '-'}${r.writer_paused_percent !== undefined ? ` (${r.writer_paused_percent})` : ''} | ${r.peak_rss_mb} | ${r.baseline_load_generator_cpu_percent} / ${r.load_generator_cpu_percent} | ${mix}${r.unexpected ? `; **${r.unexpected} unexpected**` : ''} |`);
  }
  lines.push('', `Service peak RSS over the whole run (kernel high-water mark, VmHWM): **${res.service_peak_rss_mb} MB**.`);
  if (res.enrolment.length > 0) {
    lines.push('', '## Enrolment', '');
    for (const e of res.enrolment) lines.push(`- ${Object.entries(e).map(([k, v]) => `${k}: ${String(v)}`).join(', ')}`);
  }
  if (res.growth && res.growth.rounds.length > 0) {
    const g = res.growth;
    lines.push(
      '',
      '## Growth with the user count',
      '',
      `POST /totp/verify with wrong codes, on ${g.users_small.toLocaleString('en-US')} users and on ${g.users_large.toLocaleString('en-US')} users ` +
        '(each population has its own database and service process), measured in pairs after the runs above, ' +
        `each pair in ${res.settings.slices} slices of ${res.settings.slice_seconds} s alternating between the two populations:`,
      '',
      `| pair | ${g.users_small.toLocaleString('en-US')} users req/s | ${g.users_large.toLocaleString('en-US')} users req/s | large / small | CPU µs/req small | CPU µs/req large | writes held % small / large |`,
      '|---:|---:|---:|---:|---:|---:|---:|',
    );
    g.rounds.forEach((r, i) => lines.push(`| ${i + 1} | ${r.small_rps} | ${r.large_rps} | ${r2(r.large_rps / r.small_rps)} | ${r.small_cpu_us} | ${r.large_cpu_us} | ${r.small_writer_paused_percent ?? '-'} / ${r.large_writer_paused_percent ?? '-'} |`));
  }
  lines.push('', '## Targets', '', '| target | wanted | got | met |', '|---|---|---|---|');
  for (const t of res.targets) lines.push(`| ${t.target} | ${t.wanted} | ${t.got} | ${t.met ? 'yes' : '**no**'} |`);
  lines.push('', '## Notes', '');
  for (const n of [...STANDING_NOTES, `Settings changed from the production defaults: ${String(res.settings.env_overrides)}.`, ...res.notes]) lines.push(`- ${n}`);
  if (analysis) lines.push('', analysis.trim());
  return `${lines.join('\n')}\n`;
}

const STANDING_NOTES = [
  'POST /verify-2fa (valid code) sends the current code on every request, but a code is accepted once per time step (replay ' +
    'protection is a database guarantee): the first request of each 30 s step answers valid=true and the rest valid=false. ' +
    'Each of them still runs the whole path (seed read, window check, the claim UPDATE in SQLite, an audit row), so this is ' +
    'the cost of checking a valid code.',
  'POST /totp/verify draws a user at random per request; a user drawn again within a step gets a replay (401), as it would ' +
    'live. With 10,000 users many requests are replays, with 1,000,000 nearly none, so the wrong-code runs, which take the ' +
    'same path whatever the population, are the cleaner comparison of the two populations.',
  '`openssl speed` counts operations per CPU second of its one process; the service is measured in wall-clock requests per ' +
    'second, with the load generator on the same machine. On a busy machine (see the CPU pressure above) the service side ' +
    'loses; the CPU µs/req column moves much less with the neighbours and is the better guide there.',
  'The "CPU µs/req (× baseline)" column is the service process\'s user+system time (all threads) per request, and the ' +
    'baseline\'s CPU per request divided by it.',
  'The "load generator CPU %" column is the bench process\'s CPU time (autocannon, and the scenario\'s work per request: ' +
    'a signature, a user\'s current code) over the slices\' wall time, during the baseline\'s slices and the route\'s. ' +
    'The baseline is sent one request of the route\'s shape, again and again; near 100 % the load generator, not the baseline, would set its rate ' +
    '(a note says so when it passes 90 %).',
  'The "writes / commit" column is how many writes shared each SQLite transaction during the run (group commit, ' +
    'src/db/group-commit.ts: the writes of one event-loop turn commit together), from the service\'s /metrics; in brackets, ' +
    'the share of the run\'s time the checkpointer held the writes so that the WAL could start over (src/db/checkpointer.ts).',
];

/** The hand-written analysis (bench/analysis.md) appended to RESULTS.md, if there is one. */
export function readAnalysis(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

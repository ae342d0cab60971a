import autocannon from 'autocannon';

// Measured runs of one route with autocannon: fixed connections and duration, no pipelining.
// Latencies are taken from autocannon's per-response event (microsecond resolution) rather than
// its histogram, which rounds to whole milliseconds, and kept, so that the slices a route is
// measured in (run.ts) add up to one result.

export type PerRequest = { path?: string; headers?: Record<string, string>; body?: string };

export type Scenario = {
  /** Stable key for results.json. */
  key: string;
  /** What the table shows, e.g. "POST /verify-2fa (invalid code)". */
  label: string;
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Fresh path, headers or body for each request (signatures, current codes, random users). */
  perRequest?: () => PerRequest;
  /** Status codes this scenario is designed to receive; anything else means the bench is broken. */
  expect: number[];
  /** Names the outcome of a response where the mix matters (valid/replayed, success/locked...). */
  classify?: (status: number, body: string) => string;
  note?: string;
};

export type LoadResult = {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
  outcomes?: Record<string, number>;
  /** Responses whose status is not in `expect`, plus socket errors and timeouts. */
  unexpected: number;
  errors: number;
  timeouts: number;
};

export type LoadSettings = { connections: number; durationSeconds: number };

/** One autocannon run, unsummarised: its latencies are kept so that runs can be merged. */
export type Sample = Omit<LoadResult, 'rps' | 'p50Ms' | 'p99Ms'> & {
  /** Milliseconds, one per response, in arrival order. */
  latencies: Float64Array;
};

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? 0;
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

const addCounts = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

/**
 * The runs of one route as one result: requests and seconds summed (so req/s is over the whole
 * measured time), percentiles over every latency of every run.
 */
export function summarize(samples: Sample[]): LoadResult {
  const all = new Float64Array(samples.reduce((n, x) => n + x.latencies.length, 0));
  let at = 0;
  for (const x of samples) {
    all.set(x.latencies, at);
    at += x.latencies.length;
  }
  all.sort();
  const requests = samples.reduce((n, x) => n + x.requests, 0);
  const seconds = samples.reduce((n, x) => n + x.seconds, 0);
  const statuses: Record<string, number> = {};
  for (const x of samples) addCounts(statuses, x.statuses);
  const withOutcomes = samples.filter((x) => x.outcomes);
  const outcomes: Record<string, number> = {};
  for (const x of withOutcomes) addCounts(outcomes, x.outcomes as Record<string, number>);
  return {
    requests,
    seconds: round(seconds, 3),
    rps: seconds > 0 ? round(requests / seconds, 1) : 0,
    p50Ms: round(percentile(all, 50), 3),
    p99Ms: round(percentile(all, 99), 3),
    statuses,
    ...(withOutcomes.length > 0 ? { outcomes } : {}),
    unexpected: samples.reduce((n, x) => n + x.unexpected, 0),
    errors: samples.reduce((n, x) => n + x.errors, 0),
    timeouts: samples.reduce((n, x) => n + x.timeouts, 0),
  };
}

export async function runLoad(baseUrl: string, s: Scenario, settings: LoadSettings): Promise<Sample> {
  const request: autocannon.Request = {
    method: s.method,
    path: s.path,
    headers: { ...(s.body !== undefined ? { 'content-type': 'application/json' } : {}), ...s.headers },
    ...(s.body !== undefined ? { body: s.body } : {}),
  };
  const perRequest = s.perRequest;
  if (perRequest) {
    request.setupRequest = (req) => {
      const p = perRequest();
      return { ...req, ...(p.path ? { path: p.path } : {}), ...(p.body !== undefined ? { body: p.body } : {}), headers: { ...req.headers, ...p.headers } };
    };
  }
  const outcomes: Record<string, number> = {};
  const classify = s.classify;
  if (classify) {
    request.onResponse = (status, body) => {
      const k = classify(status, body);
      outcomes[k] = (outcomes[k] ?? 0) + 1;
    };
  }

  let latencies = new Float64Array(1 << 16);
  let n = 0;
  const started = process.hrtime.bigint();
  let finish!: (r: autocannon.Result) => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const instance = autocannon(
    { url: baseUrl, connections: settings.connections, duration: settings.durationSeconds, pipelining: 1, timeout: 10, requests: [request] },
    (err, result) => (err ? fail(err) : finish(result)),
  );
  instance.on('response', (_client, _status, _bytes, responseTime) => {
    if (n === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[n++] = responseTime;
  });
  const result = await done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const statuses: Record<string, number> = {};
  for (const [code, v] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = v.count ?? 0;
  const expected = s.expect.reduce((sum, code) => sum + (statuses[String(code)] ?? 0), 0);
  return {
    requests: n,
    seconds,
    latencies: latencies.slice(0, n),
    statuses,
    ...(classify ? { outcomes } : {}),
    unexpected: n - expected + result.errors + result.timeouts,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

import autocannon from 'autocannon';

// One measured run of one route with autocannon: fixed connections and duration, no
// pipelining. Latencies are taken from autocannon's per-response event (microsecond
// resolution) rather than its histogram, which rounds to whole milliseconds.

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

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? 0;
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

export async function runLoad(baseUrl: string, s: Scenario, settings: LoadSettings): Promise<LoadResult> {
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
  const sorted = latencies.subarray(0, n).sort();
  const statuses: Record<string, number> = {};
  for (const [code, v] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = v.count ?? 0;
  const expected = s.expect.reduce((sum, code) => sum + (statuses[String(code)] ?? 0), 0);
  return {
    requests: n,
    seconds: round(seconds, 3),
    rps: round(n / seconds, 1),
    p50Ms: round(percentile(sorted, 50), 3),
    p99Ms: round(percentile(sorted, 99), 3),
    statuses,
    ...(classify ? { outcomes } : {}),
    unexpected: n - expected + result.errors + result.timeouts,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

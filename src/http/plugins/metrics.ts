import type { FastifyInstance } from 'fastify';

// Prometheus text exposition of request counts and latency per route and status, kept in
// memory by this process. Small on purpose: no dependency for a handful of counters.

const BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

type Series = { count: number; sumMs: number; buckets: number[] };

export function registerMetrics(app: FastifyInstance): void {
  const series = new Map<string, Series>();
  const started = Date.now();

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const key = `${request.method} ${route} ${reply.statusCode}`;
    let s = series.get(key);
    if (!s) series.set(key, (s = { count: 0, sumMs: 0, buckets: BUCKETS_MS.map(() => 0) }));
    const ms = reply.elapsedTime;
    s.count++;
    s.sumMs += ms;
    for (let i = 0; i < BUCKETS_MS.length; i++) if (ms <= (BUCKETS_MS[i] as number)) s.buckets[i] = (s.buckets[i] ?? 0) + 1;
    done();
  });

  app.get(
    '/metrics',
    { schema: { description: 'Prometheus metrics of this process (request counts and latency by route and status).', tags: ['operations'] } },
    async (_request, reply) => {
      const lines = [
        '# HELP process_uptime_seconds Seconds since this process started serving.',
        '# TYPE process_uptime_seconds gauge',
        `process_uptime_seconds ${Math.floor((Date.now() - started) / 1000)}`,
        '# HELP process_resident_memory_bytes Resident memory of this process.',
        '# TYPE process_resident_memory_bytes gauge',
        `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
        '# HELP http_request_duration_ms Request latency by route and status.',
        '# TYPE http_request_duration_ms histogram',
      ];
      for (const [key, s] of series) {
        const [method, route, status] = key.split(' ');
        const labels = `method="${method}",route="${route}",status="${status}"`;
        BUCKETS_MS.forEach((b, i) => lines.push(`http_request_duration_ms_bucket{${labels},le="${b}"} ${s.buckets[i]}`));
        lines.push(`http_request_duration_ms_bucket{${labels},le="+Inf"} ${s.count}`);
        lines.push(`http_request_duration_ms_sum{${labels}} ${s.sumMs.toFixed(3)}`);
        lines.push(`http_request_duration_ms_count{${labels}} ${s.count}`);
      }
      reply.type('text/plain; version=0.0.4').send(`${lines.join('\n')}\n`);
    },
  );
}

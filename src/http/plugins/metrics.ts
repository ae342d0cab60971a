import type { FastifyInstance } from 'fastify';
import type { WriteStats } from '../../db/group-commit.js';

// Prometheus text exposition of request counts and latency per route and status, kept in
// memory by this process. Small on purpose: no dependency for a handful of counters.

const BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

type Series = { count: number; sumMs: number; buckets: number[] };

// Group commit (src/db/group-commit.ts): writes per transaction is writes / transactions.
const writeLines = (s: WriteStats) => [
  '# HELP sqlite_write_transactions_total Write transactions committed (each holds the writes of one event-loop turn).',
  '# TYPE sqlite_write_transactions_total counter',
  `sqlite_write_transactions_total ${s.commits}`,
  '# HELP sqlite_writes_total Writes committed (a verification, a claimed signature, an audit row...).',
  '# TYPE sqlite_writes_total counter',
  `sqlite_writes_total ${s.writes}`,
  '# HELP sqlite_writer_pauses_total Times the writes were held for a checkpoint to start the WAL over (src/db/checkpointer.ts).',
  '# TYPE sqlite_writer_pauses_total counter',
  `sqlite_writer_pauses_total ${s.pauses}`,
  '# HELP sqlite_writer_paused_seconds_total Seconds the writes were held for those checkpoints.',
  '# TYPE sqlite_writer_paused_seconds_total counter',
  `sqlite_writer_paused_seconds_total ${s.pausedSeconds.toFixed(6)}`,
  '# HELP sqlite_writes_refused_total Writes refused with nothing kept: the disk full (storage_full), or the write lock held by another process for 5 s (busy).',
  '# TYPE sqlite_writes_refused_total counter',
  `sqlite_writes_refused_total{reason="storage_full"} ${s.refused.full}`,
  `sqlite_writes_refused_total{reason="busy"} ${s.refused.busy}`,
  '# HELP sqlite_storage_full 1 while writes fail for lack of space: the last write did and none has committed since.',
  '# TYPE sqlite_storage_full gauge',
  `sqlite_storage_full ${s.storageFull ? 1 : 0}`,
];

export type MetricsOptions = { writeStats: () => WriteStats };

export function registerMetrics(app: FastifyInstance, opts: MetricsOptions): void {
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
        ...writeLines(opts.writeStats()),
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

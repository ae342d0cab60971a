import type { Clock } from '../clock.js';
import type { Store } from '../db/types.js';

// AUDIT_RETENTION_DAYS: the audit log keeps its events that long, then they are deleted. Every
// verification writes an event (API.md), so a busy deployment grows the table by its
// verifications times ~160 bytes (the row and its indexes), and a volume fills in the end;
// with 0, the default, nothing is ever deleted. Run by each API process at start and every ten
// minutes; two processes deleting the same rows is harmless. Deleted in batches of BATCH rows,
// each its own short write, so requests go on between them: a first run over months of events
// does not hold the write lock for long.

const DAY_MS = 24 * 3600 * 1000;
const BATCH = 1000;
export const AUDIT_RETENTION_INTERVAL_MS = 10 * 60 * 1000;

export type AuditRetention = {
  /** Deletes every event older than the retention; how many went. One run at a time. */
  prune(): Promise<number>;
  /** Ends a run in progress after its current batch (the process is closing); no run after it. */
  stop(): Promise<void>;
};

export function createAuditRetention(deps: { store: Store; clock: Clock; days: number }): AuditRetention {
  let running: Promise<number> | null = null;
  let stopped = false;
  const run = async (): Promise<number> => {
    const before = deps.clock.now() - deps.days * DAY_MS;
    let total = 0;
    while (!stopped) {
      const n = await deps.store.audit.deleteOlderThan(before, BATCH);
      total += n;
      if (n < BATCH) break;
    }
    return total;
  };
  return {
    prune() {
      if (stopped) return Promise.resolve(0);
      running ??= run().finally(() => {
        running = null;
      });
      return running;
    },
    async stop() {
      stopped = true;
      await running?.catch(() => undefined);
    },
  };
}

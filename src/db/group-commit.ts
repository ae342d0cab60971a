import type { Db } from './driver.js';
import { StorageUnavailableError } from './types.js';

// Group commit (issue 5): the write transactions of the requests that reach the database in the
// same turn of the event loop share one SQLite transaction, so a burst of N verifications pays
// for one BEGIN IMMEDIATE, one set of WAL frames for the pages they share (the audit table and
// its indexes, above all) and one COMMIT instead of N of each.
//
// What a caller sees does not change:
// - Each write runs whole and alone, in the order it was submitted: the batch runs them one after
//   the other, synchronously, each in its own SAVEPOINT. A write that throws is rolled back to
//   its savepoint, its promise rejects with that error, and the others go on. So a conditional
//   UPDATE (a step claimed once, a lockout charge) sees every earlier write of the batch, exactly
//   as it would have seen them committed one by one.
// - A promise settles only after the COMMIT that made its write durable (as durable as
//   synchronous=NORMAL makes any commit), so no answer is sent for a change that is then lost.
//   If the COMMIT fails, every write of the batch rejects and nothing of it stays.
// - If SQLite itself abandons the transaction part-way (it does for SQLITE_FULL, an I/O error or
//   running out of memory), the writes that had run with it reject, and the ones not yet run go
//   to the next batch.
// - Called while a transaction is already open on the connection (a caller's own
//   db.transaction, a bulk load), a write runs at once in a savepoint of that transaction.
// - A write refused by the disk (SQLITE_FULL) or by another process's write lock (held past
//   lockWaitMs, waited for on timers: see runBatch) rejects with a StorageUnavailableError,
//   whichever statement met it; a write of the same batch undone with it gets the same. Any
//   other error is the write's own.
//
// Under light load a batch holds one write and costs what the write's own transaction did.

export type GroupCommit = {
  /** Runs `work` (synchronous statements) in the next shared transaction; settles after its COMMIT. */
  write<T>(work: () => T): Promise<T>;
  /** Runs everything queued now, paused or not (close() and tests use it). */
  flush(): void;
  /**
   * Holds the batches (writes queue up, nothing blocks) until resume(): the checkpointer's
   * moment with no writer (checkpointer.ts). Nothing runs between event-loop turns, so no batch
   * is ever half-way when this is called.
   */
  pause(): void;
  resume(): void;
  /** Batches committed and writes in them, pauses and the seconds they held the writes, since start (for /metrics). */
  stats(): WriteStats;
};

export type WriteStats = {
  commits: number;
  writes: number;
  pauses: number;
  pausedSeconds: number;
  /** Writes refused with a StorageUnavailableError, by reason. */
  refused: { full: number; busy: number };
  /** The last write refused for lack of space, and none committed since. */
  storageFull: boolean;
};

/**
 * Why the storage refused, from the SQLite error behind `error` (the error itself, or the cause
 * of a batch undone by it): no room (SQLITE_FULL), another process's lock (SQLITE_BUSY and its
 * extended codes), or null for an error that is the write's own.
 */
function unavailableReason(error: unknown): 'full' | 'busy' | null {
  for (let e = error, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_')) return code === 'SQLITE_FULL' ? 'full' : code.startsWith('SQLITE_BUSY') ? 'busy' : null;
  }
  return null;
}

/** `lockedSince`: when the job's batch first found another process holding the write lock. */
type Job = { work: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void; lockedSince?: number };
type Outcome = { job: Job; ok: true; value: unknown } | { job: Job; ok: false; error: unknown };

export type GroupCommitOptions = {
  /** At most this many writes per transaction, so one burst cannot hold the write lock for long. */
  maxBatch?: number;
  /**
   * How long a write waits for a write lock another process holds before it is refused as busy
   * (default 5000 ms). The wait is on timers, not in SQLite's busy handler, which sleeps on the
   * event loop: see the connection's short busy_timeout in store.ts.
   */
  lockWaitMs?: number;
};

/** Set on the serving connection (store.ts): SQLite's own busy wait, which blocks the thread. */
export const SERVING_BUSY_TIMEOUT_MS = 20;

export function createGroupCommit(db: Db, opts: GroupCommitOptions = {}): GroupCommit {
  const maxBatch = opts.maxBatch ?? 128;
  const lockWaitMs = opts.lockWaitMs ?? 5000;
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  const savepoint = db.prepare('SAVEPOINT group_write');
  const release = db.prepare('RELEASE group_write');
  const rollbackTo = db.prepare('ROLLBACK TO group_write');

  let queue: Job[] = [];
  let scheduled = false;
  let paused = false;
  let commits = 0;
  let writes = 0;
  let pauses = 0;
  let pausedMs = 0;
  let pausedAt = 0;
  const refused = { full: 0, busy: 0 };
  let storageFull = false;
  // While another process holds the write lock: the timer of the next try, and the tries so far.
  let lockRetry: NodeJS.Timeout | null = null;
  let lockTries = 0;

  /** What a caller is rejected with: a StorageUnavailableError for the disk and the lock. */
  const refusal = (error: unknown): unknown => {
    if (error instanceof StorageUnavailableError) return error;
    const reason = unavailableReason(error);
    if (!reason) return error;
    refused[reason]++;
    if (reason === 'full') storageFull = true;
    return new StorageUnavailableError(reason, { cause: error });
  };
  // Every rejection of a queued write goes through here (no wrapper per write on the hot path).
  const fail = (job: Job, error: unknown) => job.reject(refusal(error));

  /** Ends whatever is open; a failure here (the connection is gone) must not escape the batch. */
  const rollbackQuietly = () => {
    try {
      if (db.inTransaction) rollback.run();
    } catch {
      // nothing more to undo on this connection
    }
  };

  /** One write in a savepoint of the open transaction; rolled back to it if it throws. */
  const inSavepoint = (work: () => unknown): unknown => {
    savepoint.run();
    try {
      const value = work();
      release.run();
      return value;
    } catch (error) {
      // SQLite may have ended the whole transaction already (see above); then there is no savepoint.
      if (db.inTransaction) {
        rollbackTo.run();
        release.run();
      }
      throw error;
    }
  };

  const settle = (outcomes: Outcome[]) => {
    for (const o of outcomes) {
      if (o.ok) o.job.resolve(o.value);
      else fail(o.job, o.error);
    }
  };

  /** What is left to run now (`retry`), or to run once another process lets the lock go (`locked`). */
  type Rest = { retry: Job[]; locked: Job[] };
  const none: Rest = { retry: [], locked: [] };

  const runBatch = (jobs: Job[]): Rest => {
    try {
      begin.run();
    } catch (error) {
      // Another process holds the write lock (SQLite's busy handler gave up after the
      // connection's short busy_timeout): the batch waits for it on a timer, so the event loop
      // serves meanwhile, and what has waited lockWaitMs in all is refused as busy.
      if (unavailableReason(error) === 'busy') {
        const now = performance.now();
        const locked: Job[] = [];
        for (const job of jobs) {
          job.lockedSince ??= now;
          if (now - job.lockedSince >= lockWaitMs) fail(job, error);
          else locked.push(job);
        }
        return { retry: [], locked };
      }
      // A closed database...
      for (const job of jobs) fail(job, error);
      return none;
    }
    lockTries = 0;
    const single = jobs.length === 1;
    const outcomes: Outcome[] = [];
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i] as Job;
      try {
        // A batch of one needs no savepoint: the ROLLBACK below undoes it.
        outcomes.push({ job, ok: true, value: single ? job.work() : inSavepoint(job.work) });
      } catch (error) {
        outcomes.push({ job, ok: false, error });
        if (single) rollbackQuietly();
      }
      if (!db.inTransaction) {
        // The transaction is gone (the failed write of a batch of one, rolled back above, or
        // SQLite abandoning it): what ran in it is gone too, and the rest goes to a new batch.
        const last = outcomes[outcomes.length - 1] as Outcome;
        const lost = new Error('the shared write transaction was rolled back by SQLite', { cause: last.ok ? undefined : last.error });
        settle(outcomes.map((o) => (o.ok ? { job: o.job, ok: false, error: lost } : o)));
        return { retry: jobs.slice(i + 1), locked: [] };
      }
    }
    try {
      commit.run();
    } catch (error) {
      rollbackQuietly();
      settle(outcomes.map((o) => (o.ok ? { job: o.job, ok: false, error } : o)));
      return none;
    }
    commits++;
    storageFull = false;
    writes += outcomes.filter((o) => o.ok).length;
    settle(outcomes);
    return none;
  };

  const flush = () => {
    scheduled = false;
    if (lockRetry) {
      clearTimeout(lockRetry);
      lockRetry = null;
    }
    while (queue.length > 0) {
      const jobs = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      let rest: Rest;
      try {
        rest = runBatch(jobs);
      } catch (error) {
        // Not expected (every statement above is guarded), but this runs from setImmediate,
        // where a throw would end the process: refuse the batch instead.
        rollbackQuietly();
        for (const job of jobs) fail(job, error);
        rest = none;
      }
      if (rest.locked.length > 0) {
        // Everything waits behind the lock, in order; tries 5, 10, 20, 40, then every 50 ms.
        queue = [...rest.locked, ...queue];
        lockRetry = setTimeout(() => {
          lockRetry = null;
          if (!paused) flush();
        }, Math.min(50, 5 * 2 ** lockTries++));
        return;
      }
      if (rest.retry.length > 0) queue = [...rest.retry, ...queue];
      // Let the answers of this batch go out before the next one when a burst overflowed it.
      if (queue.length > 0) return schedule();
    }
  };

  const schedule = () => {
    if (scheduled || paused || lockRetry) return;
    scheduled = true;
    // setImmediate runs after the event loop's poll phase: every request whose data arrived in
    // this turn has reached its write by then (their handlers run to their first await).
    setImmediate(() => {
      if (paused) scheduled = false;
      else flush();
    });
  };

  return {
    write<T>(work: () => T): Promise<T> {
      if (db.inTransaction) {
        try {
          return Promise.resolve(inSavepoint(work) as T);
        } catch (error) {
          return Promise.reject(refusal(error));
        }
      }
      return new Promise<T>((resolve, reject) => {
        queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
        schedule();
      });
    },
    flush,
    pause() {
      if (paused) return;
      paused = true;
      pausedAt = performance.now();
    },
    resume() {
      if (!paused) return;
      pauses++;
      pausedMs += performance.now() - pausedAt;
      paused = false;
      if (queue.length > 0 && !lockRetry) schedule();
    },
    stats: () => ({ commits, writes, pauses, pausedSeconds: pausedMs / 1000, refused: { ...refused }, storageFull }),
  };
}

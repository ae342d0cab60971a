import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { DRIVER_MODULE } from './driver.js';
import type { Db } from './open.js';

// WAL checkpoints off the event loop (issue 5).
//
// SQLite's automatic checkpoint runs inside whichever commit pushes the WAL past 1000 pages: that
// request then copies pages back into the database file and fsyncs both files on the event loop
// (an audit-row insert cost ~70 µs of wall time with it, ~37 µs without). Here the serving
// connection turns the automatic checkpoint off, and a worker thread with its own connection
// runs `wal_checkpoint(PASSIVE)` every `intervalMs` (200 ms): PASSIVE never waits for and never blocks
// the writer. Bound: when the WAL file has grown past `maxWalBytes` (32 MiB) anyway (a reader held an
// old snapshot, say), the worker runs `wal_checkpoint(TRUNCATE)`, which waits (busy_timeout)
// for the writer and readers and resets the file. If the worker thread dies, the serving
// connection goes back to SQLite's automatic checkpoint, so the WAL can never grow unbounded.
//
// Durability is unchanged in kind: with journal_mode=WAL and synchronous=NORMAL (open.ts) a
// commit is atomic and consistent at once, and durable against power loss once the WAL is
// fsynced, which happens at checkpoint time. The automatic checkpoint did that every ~1000
// pages (minutes apart under light load); this does it every 200 ms under any load.
// A crash of the process (not the machine) loses nothing either way: the WAL is in the file.

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { statSync } = require('node:fs');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
const walSize = () => { try { return statSync(workerData.file + '-wal').size; } catch { return 0; } };
const tick = () => {
  try {
    if (walSize() > workerData.maxWalBytes) db.pragma('wal_checkpoint(TRUNCATE)');
    else db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // SQLITE_BUSY and the like: try again at the next tick.
  }
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'stop') {
    clearInterval(timer);
    tick();
    db.close();
    parentPort.close();
  } else if (m === 'tick') {
    tick();
    parentPort.postMessage('ticked');
  }
});
`;

export type CheckpointerOptions = { intervalMs?: number; maxWalBytes?: number; busyTimeoutMs?: number };

export type Checkpointer = {
  /** Runs one checkpoint now (tests); resolves when it is done. */
  tick(): Promise<void>;
  /** Stops the thread after a last checkpoint; the serving connection checkpoints on its own again. */
  stop(): Promise<void>;
};

/** Moves the WAL checkpoints of `db` (a file database in WAL mode) to a background thread. */
export function startCheckpointer(db: Db, file: string, opts: CheckpointerOptions = {}): Checkpointer {
  const autocheckpoint = db.pragma('wal_autocheckpoint', { simple: true }) as number;
  db.pragma('wal_autocheckpoint = 0');
  const restore = () => {
    if (db.open) db.pragma(`wal_autocheckpoint = ${autocheckpoint > 0 ? autocheckpoint : 1000}`);
  };
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      // the same better-sqlite3 build the serving connection uses (driver.ts)
      driver: createRequire(import.meta.url).resolve(DRIVER_MODULE),
      file,
      intervalMs: opts.intervalMs ?? 200,
      maxWalBytes: opts.maxWalBytes ?? 32 * 2 ** 20,
      busyTimeoutMs: opts.busyTimeoutMs ?? 2000,
    },
  });
  // Never keeps the process alive (tests, shutdown); a dead worker hands checkpoints back to SQLite.
  worker.unref();
  let running = true;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', () => undefined);
  void exited.then(() => {
    running = false;
    restore();
  });
  const waiters: (() => void)[] = [];
  worker.on('message', (m) => {
    if (m === 'ticked') waiters.shift()?.();
  });
  return {
    tick() {
      if (!running) return Promise.resolve();
      return new Promise((resolve) => {
        waiters.push(resolve);
        worker.postMessage('tick');
      });
    },
    async stop() {
      if (!running) return;
      worker.postMessage('stop');
      // A checkpoint stuck behind a busy database must not hold a shutdown up.
      const force = setTimeout(() => void worker.terminate(), 3000);
      force.unref();
      await exited;
      clearTimeout(force);
    },
  };
}

/** The WAL file's size in bytes (0 when there is none). */
export function walBytes(file: string): number {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
}

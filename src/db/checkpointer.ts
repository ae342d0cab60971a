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
// runs `wal_checkpoint(PASSIVE)` every `intervalMs` (200 ms): PASSIVE never waits for and never
// blocks the writer.
//
// Keeping the WAL bounded. PASSIVE copies the WAL back but cannot start it over: SQLite restarts
// the WAL at the beginning of a write only once every frame has been copied back, and a writer
// that commits every turn of the event loop always has new frames by then. Once the frames in
// the WAL pass `maxWalBytes` (32 MiB), the thread asks the group committer (group-commit.ts) for a
// moment with no writer: the committer holds its batches (writes queue, the event loop goes on),
// the thread copies back the few frames since its last checkpoint (having first caught up
// without holding anyone, for the frames written while it copied), and the committer resumes;
// its next BEGIN starts the WAL over from the top of the same file. The pause lasts one short
// checkpoint (a few ms). It used to be `wal_checkpoint(TRUNCATE)`, which blocks writers while
// it copies, syncs and truncates: the serving connection then slept in SQLite's busy handler,
// on the event loop, for 30-80 ms every second or two under write load (4-6 % of the time), and
// the file was re-grown, page by page, after each truncation. TRUNCATE remains the last resort
// when the WAL still grows past 4 × maxWalBytes (another process's reader holding an old
// snapshot, say), and the only bound when no committer was given.
//
// The pause is kept short at any size of database by flushing first. A PASSIVE checkpoint that
// runs while the writer commits never reaches the end of the WAL, and SQLite fsyncs the database
// file only at a checkpoint that does: so every page copied back since the last pause waits in
// the OS's cache for the quiet checkpoint's fsync. On 1,000,000 users those are thousands of
// scattered pages, and that fsync held the writer ~55 ms a time (~6 % of the time under
// POST /totp/verify's load, against ~1 % on 10,000 users). The thread now flushes the database
// file itself (fdatasync) before it asks for the pause, while nobody waits, and catches up once more; the
// quiet checkpoint then flushes only what was copied since (measured: 5-17 ms a pause, a third
// of the time paused before). It uses a descriptor SQLite already has open on the file, found in
// /proc/self/fd, and never opens one of its own: closing a second descriptor of a file drops
// every POSIX lock the process holds on it, SQLite's included. Where there is no /proc the step
// is skipped, and the pause is as long as before.
//
// Durability is unchanged in kind: with journal_mode=WAL and synchronous=NORMAL (open.ts) a
// commit is atomic and consistent at once, and durable against power loss once the WAL is
// fsynced, which happens at checkpoint time. The automatic checkpoint did that every ~1000
// pages (minutes apart under light load); this does it every 200 ms under any load.
// A crash of the process (not the machine) loses nothing either way: the WAL is in the file.

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { statSync, readdirSync, readlinkSync, realpathSync, fdatasyncSync } = require('node:fs');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
const walSize = () => { try { return statSync(workerData.file + '-wal').size; } catch { return 0; } };
// { busy, log, checkpointed } (frames in the WAL, frames copied back), or null when it failed.
const checkpoint = (mode) => {
  try {
    return db.pragma('wal_checkpoint(' + mode + ')')[0] ?? null;
  } catch {
    // SQLITE_BUSY and the like: try again at the next tick.
    return null;
  }
};
// Flushes the database file through a descriptor SQLite has open on it (see above: never one of
// our own). Any failure only means the quiet checkpoint has more to flush.
let dbPath = null;
try { dbPath = realpathSync(workerData.file); } catch {}
const flushDatabaseFile = () => {
  if (!dbPath) return false;
  let fds;
  try { fds = readdirSync('/proc/self/fd'); } catch { return false; }
  for (const fd of fds) {
    try {
      if (readlinkSync('/proc/self/fd/' + fd) === dbPath) {
        fdatasyncSync(Number(fd));
        return true;
      }
    } catch {}
  }
  return false;
};
// The WAL file keeps its size when SQLite starts it over, so what counts is the frames in use.
const frameBytes = db.pragma('page_size', { simple: true }) + 24;
// While the committer holds its writes for us: what to do once the quiet checkpoint is done.
let quiet = null;
const tick = (done) => {
  if (quiet) return done();
  let r = checkpoint('PASSIVE');
  const used = r ? r.log * frameBytes : walSize();
  if (used > workerData.maxWalBytes * (workerData.quiesce ? 4 : 1)) {
    checkpoint('TRUNCATE');
    return done();
  }
  // Without a checkpoint's own count (it failed) the file size is no guide: it stays past the
  // bound after the WAL starts over. Try again at the next tick.
  if (!workerData.quiesce || !r || used <= workerData.maxWalBytes) return done();
  // Catch up with the writer first (it went on writing during that checkpoint), flush what the
  // checkpoints copied, and catch up again, so that it is held only while the last few frames are
  // copied back and flushed.
  const catchUp = () => {
    for (let i = 0; i < 4 && r && r.log - r.checkpointed > 256; i++) r = checkpoint('PASSIVE');
  };
  catchUp();
  const flushed = flushDatabaseFile();
  catchUp();
  quiet = done;
  parentPort.postMessage(flushed ? 'quiesce-flushed' : 'quiesce');
};
const timer = setInterval(() => tick(() => undefined), workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'stop') {
    clearInterval(timer);
    checkpoint('PASSIVE');
    db.close();
    parentPort.close();
  } else if (m === 'tick') {
    tick(() => parentPort.postMessage('ticked'));
  } else if (m === 'quiet') {
    // No writer of ours runs now: this copies back every frame, so the next write restarts the WAL.
    checkpoint('PASSIVE');
    parentPort.postMessage('resume');
    const done = quiet;
    quiet = null;
    if (done) done();
  }
});
`;

/** The serving connection's group committer, held while the WAL is brought back to its start. */
export type QuiescentWriter = { pause(): void; resume(): void };

export type CheckpointerOptions = { intervalMs?: number; maxWalBytes?: number; busyTimeoutMs?: number; writer?: QuiescentWriter };

export type Checkpointer = {
  /** Runs one checkpoint now (tests); resolves when it is done. */
  tick(): Promise<void>;
  /** Stops the thread after a last checkpoint; the serving connection checkpoints on its own again. */
  stop(): Promise<void>;
  /** How many of the pauses asked of the writer came after the database file was flushed. */
  stats(): { flushedFirst: number };
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
      quiesce: opts.writer !== undefined,
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
  // The writer is held for one short checkpoint; whatever happens to the thread, not longer
  // than a second (its writes then wait on SQLite's busy timeout, as without this).
  let held: NodeJS.Timeout | null = null;
  const release = () => {
    if (!held) return;
    clearTimeout(held);
    held = null;
    opts.writer?.resume();
  };
  void exited.then(release);
  const waiters: (() => void)[] = [];
  let flushedFirst = 0;
  worker.on('message', (m) => {
    if (m === 'ticked') waiters.shift()?.();
    else if (m === 'quiesce' || m === 'quiesce-flushed') {
      if (m === 'quiesce-flushed') flushedFirst++;
      if (opts.writer && !held) {
        opts.writer.pause();
        held = setTimeout(release, 1000);
        held.unref();
      }
      worker.postMessage('quiet');
    } else if (m === 'resume') release();
  });
  return {
    tick() {
      if (!running) return Promise.resolve();
      return new Promise((resolve) => {
        waiters.push(resolve);
        worker.postMessage('tick');
      });
    },
    stats: () => ({ flushedFirst }),
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

import { readdirSync, readlinkSync, readSync, realpathSync } from 'node:fs';
import type { Db } from './open.js';

// Whether anything was committed to a WAL database since an earlier moment, without a read
// transaction (issue 5). Every commit, by any connection of any process, rewrites the WAL-index
// header at the start of the `-shm` file (https://sqlite.org/walformat.html, "The WAL-Index
// Header"): its change counter `iChange` grows by one, and `mxFrame`, the checksums and, when
// the WAL starts over, the salts move too. So two reads of those 48 bytes that are equal mean
// no commit came between them. A read that differs, or one that cannot be made, tells nothing:
// the caller then asks SQLite (a read transaction, `PRAGMA data_version`), as it would anyway.
//
// Why not just ask SQLite each time: a read transaction takes and drops a lock on the -shm file,
// two fcntl calls, and GET /generate-2fa made one per request for the service seed's freshness.
// Measured on the benchmark's machine (medians of alternated runs): 39.3 µs of CPU per request
// with the pragma, 38.0 with this probe; the baseline route 27.2. That is a small gain, at the
// edge of what that host can show; in isolation the pragma costs 0.9 µs and the probe 0.57.
// Reading the header from a shared memory map instead (no system call at all, through a native
// addon) was built and measured in the ninth round and made no difference the host could show,
// so the pread stays (bench/analysis.md).
//
// The header is read through the descriptor SQLite itself has open on the -shm file, found once
// in /proc/self/fd; never one of our own: closing a second descriptor of a file drops every POSIX
// lock the process holds on it, SQLite's included (as checkpointer.ts). SQLite keeps that
// descriptor open while any connection of this process has the database open, and the probe is
// used only while its connection is open. Without /proc, for an in-memory database, or with a
// header it does not recognise, the probe answers null and the caller checks every time.

const HEADER_BYTES = 48; // the first of the two copies of the header, the one a commit writes last
const WAL_INDEX_VERSION = 3007000; // iVersion, in the machine's byte order

export type WalHeaderProbe = {
  /** The header now (a buffer reused by the next call), or null when it cannot be read. */
  read(): Buffer | null;
};

/** The descriptor this process already has open on `path`, or null. */
function openDescriptorOf(path: string): number | null {
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) return Number(fd);
    } catch {
      // a descriptor closed meanwhile (readdir's own, for one)
    }
  }
  return null;
}

export function walHeaderProbe(db: Db): WalHeaderProbe {
  const header = Buffer.alloc(HEADER_BYTES);
  let fd: number | null | undefined; // undefined: not looked for yet; null: the probe is off

  const find = (): number | null => {
    try {
      if (db.memory) return null;
      // SQLite opened the -shm file at the first read of the WAL (openDatabase's migrations).
      const found = openDescriptorOf(`${realpathSync(db.name)}-shm`);
      if (found === null) return null;
      if (readSync(found, header, 0, HEADER_BYTES, 0) !== HEADER_BYTES) return null;
      const known = header.readUInt32LE(0) === WAL_INDEX_VERSION || header.readUInt32BE(0) === WAL_INDEX_VERSION;
      return known ? found : null;
    } catch {
      return null;
    }
  };

  return {
    read() {
      if (!db.open) return null; // SQLite may have closed its descriptor; the caller's check throws
      if (fd === undefined) fd = find();
      if (fd === null) return null;
      try {
        return readSync(fd, header, 0, HEADER_BYTES, 0) === HEADER_BYTES ? header : null;
      } catch {
        fd = null;
        return null;
      }
    },
  };
}

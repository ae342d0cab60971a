import { accessSync, appendFileSync, closeSync, constants, copyFileSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';

// The code log of API.md: "2026-11-23 14:05:00 - 2FA Code: 482910", UTC, one whole line per
// tick, bounded in size: past the bound the log is copied over last_code.txt.1 (replacing the
// previous one) and a new last_code.txt starts with the line, so there are at most two files,
// and a reader polling either by name never finds it missing or empty.
//
// "Never a torn line" holds for readers too. One append is one write(2), and writers on
// O_APPEND never interleave; but Linux makes a buffered write visible page by page (the file
// size moves at each page the data is copied into), so a reader could see the first part of a
// line that crosses a 4 KiB boundary, which is one line in ~105 (measured: the only torn reads
// were at multiples of 4096). Such a line is written to a copy of the file that then replaces
// it (rename is atomic: a reader opens the old file or the new one, both whole). Every other
// line is a plain append. Writers take a lock file for the check-and-write, so an append to
// the old file cannot be lost to the rename, whether they are tasks of one process or several
// workers on the same volume; under it a writer also skips a moment whose line is already the
// last one, so two workers write each moment once.

const PAGE = 4096; // the smallest page-cache unit: a larger page or folio is a multiple of it
const LOCK_STALE_MS = 10_000; // a holder keeps the lock for milliseconds; older means it died
const LOCK_RETRY_MS = 2;

export const CODE_LOG_FILE = 'last_code.txt';

export function formatCodeLine(timeMs: number, code: string): string {
  const iso = new Date(Math.floor(timeMs / 1000) * 1000).toISOString(); // 2026-11-23T14:05:00.000Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} - 2FA Code: ${code}\n`;
}

export type CodeLogDeps = {
  dir: string;
  maxBytes: number;
  /** The seed's code for a moment, or null while no seed is set. */
  codeAt(timeMs: number): Promise<string | null>;
  warn(message: string): void;
};

export function createCodeLog(deps: CodeLogDeps) {
  const file = join(deps.dir, CODE_LOG_FILE);
  const lockFile = join(deps.dir, `.${CODE_LOG_FILE}.lock`);
  // Used only under the lock: one name will do, and a copy a dead writer left is overwritten.
  const copyFile = join(deps.dir, `.${CODE_LOG_FILE}.tmp`);
  mkdirSync(deps.dir, { recursive: true });
  // A directory the worker cannot write (a read-only mount) is a start-up error, not a failure
  // at every tick of a process that looks alive.
  accessSync(deps.dir, constants.W_OK);

  function sizeOf(path: string): number {
    try {
      return statSync(path).size;
    } catch {
      return 0;
    }
  }

  /** The last line of a file, without its newline, or null if there is none. */
  function lastLine(path: string): string | null {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return null;
    }
    try {
      const size = fstatSync(fd).size;
      if (size === 0) return null;
      const buf = Buffer.alloc(Math.min(size, 128)); // a line is 39 bytes
      readSync(fd, buf, 0, buf.length, size - buf.length);
      const text = buf.toString('utf8').replace(/\n$/, '');
      return text.slice(text.lastIndexOf('\n') + 1);
    } finally {
      closeSync(fd);
    }
  }

  /** Runs `write` holding the lock file (O_EXCL create), taking over one left by a writer that died. */
  async function locked<T>(write: () => T): Promise<T> {
    for (;;) {
      try {
        closeSync(openSync(lockFile, 'wx'));
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      try {
        if (Date.now() - statSync(lockFile).mtimeMs > LOCK_STALE_MS) unlinkSync(lockFile);
      } catch {
        // released (or taken over) meanwhile: try again
      }
      await sleep(LOCK_RETRY_MS);
    }
    try {
      return write();
    } finally {
      rmSync(lockFile, { force: true }); // gone only if a writer took it over after 10 s
    }
  }

  /** Makes `target` the file that `fill` writes at the copy's path, in one rename (atomic: a reader opens the old file or the new one, both whole). */
  function replace(target: string, fill: (copy: string) => void): void {
    try {
      fill(copyFile);
      renameSync(copyFile, target);
    } catch (error) {
      rmSync(copyFile, { force: true });
      throw error;
    }
  }

  function append(line: Buffer): void {
    let size = sizeOf(file);
    if (size > 0 && size + line.length > deps.maxBytes) {
      // Rotation, without a moment where a name is missing or a file empty: last_code.txt.1
      // becomes a copy of the log, then (below) last_code.txt a new file holding this line. A
      // writer that dies in between leaves the log whole, and the next tick rotates it again.
      replace(`${file}.1`, (copy) => copyFileSync(file, copy));
      size = 0;
    }
    if (size > 0 && Math.floor(size / PAGE) === Math.floor((size + line.length - 1) / PAGE)) {
      appendFileSync(file, line);
      return;
    }
    // A new file (it appears whole, never empty), or a line that crosses a page boundary: the
    // whole new file appears at once, or nothing changes.
    replace(file, (copy) => {
      if (size === 0) return writeFileSync(copy, line);
      copyFileSync(file, copy);
      appendFileSync(copy, line);
    });
  }

  return {
    file,
    /** Appends the line for `timeMs`; returns whether one was written. */
    async tick(timeMs: number): Promise<boolean> {
      const code = await deps.codeAt(timeMs);
      if (code === null) {
        deps.warn('no seed is set yet: nothing written (POST /decrypt-seed to set one)');
        return false;
      }
      const text = formatCodeLine(timeMs, code);
      const moment = text.slice(0, 19); // "2026-11-23 14:05:00"
      return locked(() => {
        // One line per moment: a second worker on the same directory (or a tick run twice)
        // finds this moment's line already written, under the same lock, and adds none.
        if ((lastLine(file) ?? lastLine(`${file}.1`))?.startsWith(moment)) return false;
        append(Buffer.from(text));
        return true;
      });
    },
  };
}

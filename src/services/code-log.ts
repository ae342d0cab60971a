import { appendFileSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

// The code log of API.md: "2026-11-23 14:05:00 - 2FA Code: 482910", UTC, one whole line per
// tick, bounded in size. One appendFileSync call per line: a single write(2) on an O_APPEND
// descriptor, so a reader never sees half a line. Past the bound the file is renamed to
// last_code.txt.1 (replacing the previous one) before the line is written: at most two files.

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
  mkdirSync(deps.dir, { recursive: true });

  function sizeOf(path: string): number {
    try {
      return statSync(path).size;
    } catch {
      return 0;
    }
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
      const line = Buffer.from(formatCodeLine(timeMs, code));
      if (sizeOf(file) + line.length > deps.maxBytes) renameSync(file, `${file}.1`);
      appendFileSync(file, line);
      return true;
    },
  };
}

// npm run backup -- FILE (in the container: node dist/cli/backup.js FILE): a consistent copy of
// the database while the service and the worker go on serving and writing. FILE "-" writes the
// copy to standard output, for `docker compose exec -T api node dist/cli/backup.js - > x.db`
// (through npm, `npm run -s backup -- -`: without -s npm prints its own lines there first).
//
// VACUUM INTO copies one snapshot (a read transaction: WAL lets writers go on), where SQLite's
// page-by-page backup API starts over whenever another connection writes, and so might never
// end under steady verifications. The copy is a whole database with no WAL beside it: restoring
// it is putting it in place of two-factor.db (README, "Backup and restore"). It holds the sealed
// secrets and the audit log: it is created 0600, and it is of no use without the DATA_KEY (and
// any DATA_KEYS_PREVIOUS) that sealed them, which it does not contain. It never migrates or
// otherwise changes the database it copies.
import { closeSync, createReadStream, existsSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ConfigError, loadConfig } from '../config.js';
import { Database, type Db } from '../db/driver.js';
import { databasePath } from '../db/open.js';

async function main(argv: string[]): Promise<number> {
  const target = argv[0];
  if (!target || argv.length > 1) {
    process.stderr.write('usage: backup FILE   (a new file; "-" writes the copy to standard output)\n');
    return 2;
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`backup cannot start. ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const source = databasePath(config.dataDir);
  if (!existsSync(source)) {
    process.stderr.write(`backup wrote nothing: there is no database at ${source} (check DATA_DIR).\n`);
    return 1;
  }
  const toStdout = target === '-';
  if (toStdout && process.stdout.isTTY) {
    process.stderr.write('backup wrote nothing: standard output is a terminal; redirect it to a file (backup - > copy.db).\n');
    return 2;
  }
  const scratch = toStdout ? mkdtempSync(join(tmpdir(), 'two-factor-backup-')) : null;
  const file = scratch ? join(scratch, 'two-factor.db') : target;
  try {
    // Created here, empty and 0600, before SQLite writes a byte into it; 'wx' never replaces a
    // file that exists (an earlier backup is not overwritten by a typo).
    try {
      closeSync(openSync(file, 'wx', 0o600));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      process.stderr.write(`backup wrote nothing: ${code === 'EEXIST' ? `${file} already exists` : `cannot create ${file} (${code})`}.\n`);
      return 1;
    }
    // From here on a failure removes the file created above: "wrote nothing" stays true.
    const refuse = (why: string) => {
      if (!scratch) rmSync(file, { force: true });
      process.stderr.write(`backup wrote nothing: ${why}.\n`);
      return 1;
    };
    let db: Db | undefined;
    try {
      db = new Database(source, { fileMustExist: true });
      db.pragma('busy_timeout = 5000');
      db.prepare('VACUUM INTO ?').run(file);
    } catch (err) {
      return refuse(`${err instanceof Error ? err.message : String(err)} (${(err as { code?: string }).code ?? 'error'})`);
    } finally {
      db?.close();
    }
    const copy = new Database(file, { readonly: true });
    const check = copy.pragma('quick_check', { simple: true });
    copy.close();
    if (check !== 'ok') return refuse(`the copy failed SQLite's quick_check (${String(check)})`);
    if (toStdout) await pipeline(createReadStream(file), process.stdout);
    process.stderr.write(`Backed up ${source} to ${toStdout ? 'standard output' : file}: ${statSync(file).size} bytes, quick_check ok.\n`);
    return 0;
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2));

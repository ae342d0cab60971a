import type { Db } from '../../src/db/driver.js';

/**
 * Every row of every table (but `except`), each table's rows as one string in a stable order,
 * blobs as hex: two snapshots are equal exactly when no row changed.
 */
export function snapshotTables(db: Db, except: string[] = []): Map<string, string> {
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]).filter((n) => !except.includes(n));
  const row = (r: unknown) => JSON.stringify(r, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v));
  return new Map(tables.map((n) => [n, JSON.stringify(db.prepare(`SELECT * FROM "${n}"`).all().map(row).sort())]));
}

/** The tables whose rows differ between two snapshots. */
export const changedTables = (a: Map<string, string>, b: Map<string, string>): string[] =>
  [...new Set([...a.keys(), ...b.keys()])].filter((n) => a.get(n) !== b.get(n));

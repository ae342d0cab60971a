import type BetterSqlite3 from 'better-sqlite3';
import { createRequire } from 'node:module';

// Which better-sqlite3 this Node.js can run. Version 13 (Node-API, prebuilt in the package) is
// needed from Node 24 on, where 12 aborts the process when a statement is freed
// (`Assertion failed: (env) != nullptr` in node::RemoveEnvironmentCleanupHook, WiseLibs/
// better-sqlite3#1515); 13 in turn crashes on Node 20, which 12 serves. So 13 is the dependency
// and 12 is installed as the optional dependency `better-sqlite3-node20`, used below Node 22.
const major = Number(process.versions.node.split('.')[0]);

export const DRIVER_MODULE = major >= 22 ? 'better-sqlite3' : 'better-sqlite3-node20';

export const Database = createRequire(import.meta.url)(DRIVER_MODULE) as typeof BetterSqlite3;

export type Db = BetterSqlite3.Database;

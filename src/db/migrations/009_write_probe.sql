-- One row that GET /health rewrites while writes are failing for lack of space (store.ts,
-- storageFull), so that space freed is seen without waiting for a client's write. The row's
-- 64 KiB of random bytes, new at each probe, make it a write of 17 pages, about twice what an
-- enrolment (9) or a set of 50 backup codes (10) writes: a probe that squeezed into the last
-- few free bytes would call the disk fine while clients' writes still failed. (An UPDATE that
-- changes nothing is no probe: SQLite skips it.)
CREATE TABLE write_probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at INTEGER NOT NULL,
  pad BLOB NOT NULL
);

import { createHmac, randomBytes } from 'node:crypto';
import { dataKeyFromBase64, KeyRing } from '../src/crypto/aes-gcm.js';
import { databasePath } from '../src/db/open.js';
import { createSqliteStore } from '../src/db/store.js';
import { DEFAULT_PARAMS, timeStep, totp } from '../src/otp/totp.js';
import { credentialAad } from '../src/services/credential-aad.js';
import type { Scenario } from './load.js';

// POST /totp/verify on a small and a large enrolled population (issue 5): does the cost of a
// verification grow with the number of users? Each population has its own database and its own
// service process (so the two can be measured in alternation, minutes apart no more). Users are
// enrolled in bulk by this process through the repository layer (store.userCredentials.enrol,
// then claimStep, which is how the first good code activates an enrolment), batched into outer
// transactions, on the database file the population's service uses. Each user's secret is
// derived from a per-run key, so the load generator can compute any user's current code
// without holding a million secrets.

export type Population = 'small' | 'large';

export type UserPhase =
  | { kind: 'unavailable'; why: string }
  | { kind: 'ready'; population: Population; users: number; valid: boolean; scenario: Scenario; enrol?: () => Promise<Record<string, unknown>> };

export type PopulationTarget = { users: number; dataDir: string; serviceUrl: string };

export type UserPhaseOptions = {
  dataKey: string;
  apiKey: string;
  small: PopulationTarget;
  large: PopulationTarget;
  log(msg: string): void;
};

const BATCH = 10_000;
const SECRET_BYTES = 20;
export const benchUserId = (i: number) => `bench-user-${i}`;

export async function userPhases(o: UserPhaseOptions): Promise<UserPhase[]> {
  const probe = await fetch(`${o.small.serviceUrl}/totp/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': o.apiKey },
    body: '{}',
  });
  const body = await probe.text();
  if (probe.status === 404 && body.includes('NOT_FOUND')) {
    return [{ kind: 'unavailable', why: 'POST /totp/verify is not in this build of the service: the per-user runs were skipped.' }];
  }

  const secretKey = randomBytes(32);
  // Each secret is derived once and kept (20 bytes a user): the load generator runs on the same
  // two cores as the service, so what it spends per request is taken from the machine the
  // service is measured on.
  const users = Math.max(o.small.users, o.large.users);
  const secrets = Buffer.alloc(users * SECRET_BYTES);
  const derived = new Uint8Array(users);
  const secretOf = (i: number) => {
    const at = i * SECRET_BYTES;
    if (derived[i] === 0) {
      createHmac('sha256', secretKey).update(benchUserId(i)).digest().copy(secrets, at, 0, SECRET_BYTES);
      derived[i] = 1;
    }
    return secrets.subarray(at, at + SECRET_BYTES);
  };
  const keyRing = new KeyRing(dataKeyFromBase64(o.dataKey));

  async function enrol(target: PopulationTarget): Promise<Record<string, unknown>> {
    const total = target.users;
    const started = performance.now();
    const store = createSqliteStore(databasePath(target.dataDir));
    // The outer transactions below are SQLite's own, not the group committer's, so they wait
    // for the lock in SQLite's busy handler: give it the time the serving connection's short
    // one (store.ts) leaves to the committer's timers. The checkpointer's last-resort TRUNCATE
    // takes the lock while a bulk load outruns its checkpoints.
    store.db.pragma('busy_timeout = 5000');
    try {
      const now = Date.now();
      // An activation claims a step well in the past, so every code of the run is still new.
      const oldStep = timeStep(now, DEFAULT_PARAMS.period) - 10;
      for (let start = 0; start < total; start += BATCH) {
        const end = Math.min(total, start + BATCH);
        // The SQLite repository does its work synchronously inside each call (its transactions
        // become savepoints of the outer one); the promises only carry the results. Two outer
        // transactions per batch: the enrolments, then the activations that need their ids.
        const enrolBatch = store.db.transaction(() => {
          const created = [];
          for (let i = start; i < end; i++) {
            const userId = benchUserId(i);
            const sealed = keyRing.seal(secretOf(i), credentialAad('user', userId));
            const event = { userId, event: 'enrolment.create', success: true, ip: '127.0.0.1', at: now };
            created.push(store.userCredentials.enrol(userId, { secretBlob: sealed.blob, keyId: sealed.keyId, ...DEFAULT_PARAMS }, now, event));
          }
          return created;
        });
        const outcomes = await Promise.all(enrolBatch.immediate());
        const ids = outcomes.map((r, k) => {
          if (r.outcome !== 'created') throw new Error(`${benchUserId(start + k)} was already enrolled`);
          return r.credential.id;
        });
        const activateBatch = store.db.transaction(() =>
          ids.map((id, k) => {
            const userId = benchUserId(start + k);
            return store.userCredentials.claimStep(id, oldStep, now, { userId, event: 'enrolment.activate', success: true, ip: '127.0.0.1', at: now });
          }),
        );
        const claims = await Promise.all(activateBatch.immediate());
        if (claims.some((c) => !c.activated)) throw new Error('an enrolment was not activated');
        if (end % 100_000 === 0 || end === total) o.log(`enrolled ${end} users`);
      }
      store.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      store.close();
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      users: total,
      seconds: Math.round(seconds * 10) / 10,
      users_per_second: Math.round(total / seconds),
      how: 'store.userCredentials.enrol + claimStep (activation), 10,000 users per outer transaction',
    };
  }

  // Per request: a user drawn at random from the population, and that user's current code (or
  // a wrong one). A user drawn twice in one 30 s step is a replay (401), as it would be live.
  // A wrong code is six random digits: one HMAC fewer per request than the current code, and
  // as wrong as any a guesser sends; it matches one of the three steps the service accepts once
  // in ~330,000 requests, and is then a success like any other (counted as `guessed`).
  const scenario = (users: number, key: string, label: string, valid: boolean): Scenario => ({
    key,
    label,
    method: 'POST',
    path: '/totp/verify',
    headers: { 'x-api-key': o.apiKey },
    body: '{}',
    perRequest: () => {
      const i = Math.floor(Math.random() * users);
      const code = valid ? totp(secretOf(i), DEFAULT_PARAMS, Date.now()) : String(Math.floor(Math.random() * 1_000_000)).padStart(6, '0');
      return { body: `{"user_id":"${benchUserId(i)}","otp":"${code}"}` };
    },
    expect: [200, 401],
    classify: (status, text) =>
      status === 200
        ? valid
          ? 'success'
          : 'guessed'
        : status === 401
          ? valid
            ? 'replay'
            : 'invalid'
          : status === 429
            ? text.includes('LOCKED')
              ? 'locked'
              : 'rate_limited'
            : `status_${status}`,
    note: valid
      ? 'a random enrolled user and its current code: charge, AES-GCM open, window check, step claim, settle with an audit row; a user drawn again within the step is a replay'
      : 'a random enrolled user and six random digits: charge, window check, settle as a failure with an audit row',
  });

  const phase = (population: Population, valid: boolean, first: boolean): UserPhase => {
    const target = o[population];
    return {
      kind: 'ready',
      population,
      users: target.users,
      valid,
      scenario: scenario(
        target.users,
        `totp_verify_${population}${valid ? '' : '_invalid'}`,
        `POST /totp/verify, ${target.users.toLocaleString('en-US')} users (${valid ? 'current code' : 'wrong code'})`,
        valid,
      ),
      ...(first ? { enrol: () => enrol(target) } : {}),
    };
  };
  return [phase('small', true, true), phase('small', false, false), phase('large', true, true), phase('large', false, false)];
}

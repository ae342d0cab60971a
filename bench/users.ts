import type { Scenario } from './load.js';

// POST /totp/verify on a small and a large enrolled population (issue 5). Filled in once the
// per-user enrolment (issue 3, part A) has landed; until then the bench says so.

export type UserPhase =
  | { kind: 'unavailable'; why: string }
  | { kind: 'ready'; users: number; scenario: Scenario; enrol(): Promise<Record<string, unknown>> };

export type UserPhaseOptions = {
  dataDir: string;
  dataKey: string;
  apiKey: string;
  serviceUrl: string;
  small: number;
  large: number;
  log(msg: string): void;
};

export async function userPhases(o: UserPhaseOptions): Promise<UserPhase[]> {
  const probe = await fetch(`${o.serviceUrl}/totp/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': o.apiKey },
    body: '{}',
  });
  const body = await probe.text();
  if (probe.status === 404 && body.includes('NOT_FOUND')) {
    return [{ kind: 'unavailable', why: 'POST /totp/verify is not in this build of the service yet (issue 3, part A): the per-user runs were skipped.' }];
  }
  return [{ kind: 'unavailable', why: 'POST /totp/verify exists but the bench does not enrol users yet.' }];
}

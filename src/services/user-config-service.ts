import type { Clock } from '../clock.js';
import type { PreferredMethod, Store, UserConfigPatch, UserConfigRow } from '../db/types.js';
import { AppError } from '../errors.js';
import { userNotFound } from './attempt-guard.js';
import type { RequestContext } from './context.js';

// How a user prefers to receive or give a second factor, and where to reach them. Contact
// details only: nothing here is a secret, and the audit log records that it changed, not what.

export type UserConfigServiceDeps = { store: Store; clock: Clock };

export const configExists = () =>
  new AppError(409, 'CONFIG_ALREADY_EXISTS', 'This user already has a configuration; change it with PUT /config/{user_id}');
export const configNotFound = () => new AppError(404, 'CONFIG_NOT_FOUND', 'This user has no configuration yet; create it with POST /config');

const DEFAULTS = { preferredMethod: 'totp' as PreferredMethod, email: null, phone: null };

export function createUserConfigService(deps: UserConfigServiceDeps) {
  const { store, clock } = deps;
  const requireUser = async (userId: string) => {
    if (!(await store.users.get(userId))) throw userNotFound();
  };
  const event = (userId: string, name: string, ip: string | null, at: number) => ({ userId, event: name, success: true, ip, at });

  return {
    /** Also makes the user if there is none yet (a configuration may come before enrolment). */
    async create(userId: string, input: UserConfigPatch, ctx: RequestContext): Promise<UserConfigRow> {
      const now = clock.now();
      const row: UserConfigRow = {
        userId,
        preferredMethod: input.preferredMethod ?? DEFAULTS.preferredMethod,
        email: input.email ?? null,
        phone: input.phone ?? null,
        createdAt: now,
        updatedAt: now,
      };
      if (!(await store.userConfigs.create(row, event(userId, 'config.create', ctx.ip, now)))) throw configExists();
      return row;
    },

    async get(userId: string): Promise<UserConfigRow> {
      await requireUser(userId);
      const row = await store.userConfigs.get(userId);
      if (!row) throw configNotFound();
      return row;
    },

    /** PUT: the fields given replace the stored ones (null clears email or phone); as create, it may make the user. */
    async update(userId: string, patch: UserConfigPatch, ctx: RequestContext): Promise<UserConfigRow> {
      const now = clock.now();
      return store.userConfigs.upsert(userId, patch, DEFAULTS, now, event(userId, 'config.update', ctx.ip, now));
    },
  };
}

export type UserConfigService = ReturnType<typeof createUserConfigService>;

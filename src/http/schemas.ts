import { z } from 'zod';

export const errorSchema = z
  .object({
    error: z.string().describe('A message for a human'),
    code: z.string().describe('A stable UPPER_SNAKE code for programs'),
    fields: z.array(z.string()).optional().describe('For VALIDATION_FAILED: the fields at fault'),
  })
  .describe('Every error has this shape');

/** Response schemas for the error statuses a route can answer, for the OpenAPI document. */
export function errorResponses(...statuses: number[]): Record<number, typeof errorSchema> {
  return Object.fromEntries(statuses.map((s) => [s, errorSchema]));
}

/** API.md: 1 to 128 letters, digits and `._@-`. */
export const userIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._@-]+$/, 'must be 1 to 128 letters, digits and ._@-');

/**
 * A code as sent by a client. API.md: a code is a string of exactly `digits` ASCII digits and
 * anything else is simply not valid ({"valid": false} or 401 INVALID_OTP), so a value of another
 * type (a number, null, an object) is passed on as "" and checked like any wrong code. Only a
 * missing code is a schema failure. The body limit bounds its length.
 */
export const codeInput = z.preprocess((v) => (v === undefined || typeof v === 'string' ? v : ''), z.string());

/**
 * A whole number in a query string, in decimal digits only. z.coerce.number() would also take
 * `1e2`, `0x10`, ` 5` and `5.0`, so a typo could pass as another number.
 */
export const queryInt = (min: number, max: number) =>
  z.preprocess((v, ctx) => {
    if (typeof v !== 'string') return v; // absent: the default; repeated (an array): refused below
    if (/^[0-9]{1,16}$/.test(v)) return Number(v);
    ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}, in decimal digits` });
    return z.NEVER;
  }, z.number().int().min(min).max(max));

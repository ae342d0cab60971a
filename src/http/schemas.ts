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

/** A code as sent by a client: checked for shape by the service (a malformed one is just wrong). */
export const codeInput = z.string().max(64);

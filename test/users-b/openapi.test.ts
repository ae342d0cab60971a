import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';

// Part B's routes are in the OpenAPI document with their bodies, answers and error answers.

const ROUTES: [string, string, string[]][] = [
  ['post', '/backup-codes/generate', ['201', '400', '401', '404']],
  ['get', '/backup-codes/{user_id}', ['200', '400', '401', '404']],
  ['post', '/backup-codes/verify', ['200', '400', '401', '404', '429']],
  ['post', '/challenge', ['201', '400', '401', '404', '409']],
  ['post', '/challenge/verify', ['200', '400', '401', '404', '409', '410', '429']],
  ['post', '/recovery', ['201', '400', '401', '404', '409']],
  ['post', '/recovery/approve', ['200', '400', '401', '404', '409', '410']],
  ['post', '/config', ['201', '400', '401', '409']],
  ['get', '/config/{user_id}', ['200', '400', '401', '404']],
  ['put', '/config/{user_id}', ['200', '400', '401']],
];

describe('OpenAPI document, part B routes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it.each(ROUTES)('%s %s documents its answers and errors', async (method, path, statuses) => {
    const doc = (await t.app.inject({ url: '/openapi.json' })).json();
    const op = doc.paths[path]?.[method];
    expect(op, `${method} ${path}`).toBeDefined();
    expect(Object.keys(op.responses).sort()).toEqual([...statuses].sort());
    expect(op.description.length).toBeGreaterThan(20);
    if (method !== 'get') expect(op.requestBody).toBeDefined();
    const error = op.responses['400'].content['application/json'].schema;
    expect(error.required).toEqual(expect.arrayContaining(['error', 'code']));
  });
});

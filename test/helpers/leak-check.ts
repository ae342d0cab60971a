import { afterAll, expect } from 'vitest';
import { captured, leaks } from './log-capture.js';

// Runs after every test file: no log line written by any app in the file may contain a seed,
// a code, an API key or a signature that the file's tests registered with mustNotLog().
afterAll(() => {
  const found = leaks();
  expect(found, `secrets in log lines: ${JSON.stringify(found.slice(0, 3))}`).toEqual([]);
  captured.lines.length = 0;
  captured.secrets.clear();
});

import { expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { captured, captureStream, leaks, mustNotLog } from './log-capture.js';

// The leak check guards every test file; this proves it can fail.
it('finds a registered secret in a captured line, and the logger redacts known secret fields', () => {
  const logger = createLogger('info', captureStream());
  mustNotLog('s3cr3t-value-123');
  logger.info({ note: 'contains s3cr3t-value-123' }, 'oops');
  expect(leaks()).toHaveLength(1);
  captured.lines.length = 0;

  logger.info({ code: '654321', otp: '654321', apiKey: 'k-123456', req: { headers: { 'x-api-key': 'k-123456', 'x-signature': 'abcdef0123' } } }, 'fields');
  mustNotLog('654321', 'k-123456', 'abcdef0123');
  expect(leaks()).toEqual([]);
  expect(captured.lines[0]).toContain('[redacted]');
});

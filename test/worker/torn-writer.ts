// A helper process for the torn-line test: appends `count` lines through the real code log.
import { createCodeLog } from '../../src/services/code-log.js';

const [dir, count] = [process.argv[2]!, Number(process.argv[3])];
const log = createCodeLog({ dir, maxBytes: 1 << 30, codeAt: async () => '123456', warn: () => {} });
for (let i = 0; i < count; i++) await log.tick(Date.UTC(2026, 10, 23, 14, 5, i % 60));

// A helper process for the torn-line test: appends `count` lines through the real code log.
import { createCodeLog } from '../../src/services/code-log.js';

const [dir, count, hour] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4] ?? 0)];
const log = createCodeLog({ dir, maxBytes: 1 << 30, codeAt: async () => '123456', warn: () => {} });
// Each writer its own hour: the log writes a moment once, and here every line must land.
for (let i = 0; i < count; i++) await log.tick(Date.UTC(2026, 10, 23, 14 + hour, 5, i % 60));

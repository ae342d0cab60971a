// A helper process for the readers' tests: appends `count` lines through the real code log
// (optionally with a size bound, to rotate often).
import { createCodeLog } from '../../src/services/code-log.js';

const [dir, count, hour, maxBytes] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4] ?? 0), Number(process.argv[5] ?? 2 ** 30)];
const log = createCodeLog({ dir, maxBytes, codeAt: async () => '123456', warn: () => {} });
// Each writer its own hour: the log writes a moment once, and here every line must land.
for (let i = 0; i < count; i++) await log.tick(Date.UTC(2026, 10, 23, 14 + hour, 5, i % 60));

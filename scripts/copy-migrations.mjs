// tsc does not copy non-TS files; the compiled service reads its SQL migrations from dist/db/migrations.
import { cpSync } from 'node:fs';
cpSync('src/db/migrations', 'dist/db/migrations', { recursive: true });

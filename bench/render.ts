import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { markdown, readAnalysis, type Results } from './report.js';

// Re-renders bench/RESULTS.md from bench/results.json (after editing bench/analysis.md or the
// report format) without running the benchmark again: `npx tsx bench/render.ts [dir]`.
const dir = process.argv[2] ?? import.meta.dirname;
const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Results;
writeFileSync(join(dir, 'RESULTS.md'), markdown(results, readAnalysis(join(import.meta.dirname, 'analysis.md'))));

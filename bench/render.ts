import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateTargets, markdown, readAnalysis, type Results } from './report.js';

// Re-renders bench/RESULTS.md from bench/results.json (after editing bench/analysis.md or the
// report format) without running the benchmark again: `npx tsx bench/render.ts [dir]`. The
// targets are judged again from the stored measurements, so results.json is rewritten with them.
const dir = process.argv[2] ?? import.meta.dirname;
const stored = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Results;
const { targets: _old, ...measured } = stored;
const results: Results = { ...measured, targets: evaluateTargets(measured) };
writeFileSync(join(dir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(dir, 'RESULTS.md'), markdown(results, readAnalysis(join(import.meta.dirname, 'analysis.md'))));

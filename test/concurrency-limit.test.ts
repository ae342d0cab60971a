import { describe, expect, it } from 'vitest';
import { concurrencyLimit } from '../src/concurrency-limit.js';

describe('concurrencyLimit', () => {
  it('runs at most n tasks at once, and the others in order of arrival', async () => {
    const limit = concurrencyLimit(2);
    const gates: (() => void)[] = [];
    const started: number[] = [];
    let running = 0;
    let most = 0;
    const task = (i: number) =>
      limit(async () => {
        started.push(i);
        most = Math.max(most, ++running);
        await new Promise<void>((resolve) => gates.push(resolve));
        running--;
        return i;
      });
    const tick = () => new Promise((r) => setImmediate(r));
    const results = [task(0), task(1), task(2), task(3)];
    await tick();
    expect(started).toEqual([0, 1]);
    gates.shift()?.(); // 0 ends: its slot goes to 2, the first waiting, before 4 that arrives now
    results.push(task(4));
    await tick();
    expect(started).toEqual([0, 1, 2]);
    while (started.length < 5 || gates.length > 0) {
      gates.shift()?.();
      await tick();
    }
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
  });
});

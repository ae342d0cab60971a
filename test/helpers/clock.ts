import type { Clock } from '../../src/clock.js';

/** A clock that only moves when told to. */
export class FakeClock implements Clock {
  constructor(private ms = Date.UTC(2026, 10, 23, 14, 5, 0)) {}
  now(): number {
    return this.ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

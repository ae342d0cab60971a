// Work that holds a scarce shared resource (libuv's thread pool: scrypt, RSA) goes through a
// limit, so one kind of burst cannot take every thread from the others.

/**
 * Runs at most `n` of the tasks given to it at once; the others wait their turn, in order.
 * A finished task hands its slot straight to the next one, so no newcomer can slip past.
 */
export function concurrencyLimit(n: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active < n) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

import { Writable } from 'node:stream';

/** Every log line the apps of one test file wrote, and the secrets none of them may contain. */
export const captured = { lines: [] as string[], secrets: new Set<string>() };

export function captureStream(): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) captured.lines.push(line);
      done();
    },
  });
}

/** Registers a value (seed, code, API key, signature...) that must never appear in a log line. */
export function mustNotLog(...values: (string | undefined | null)[]): void {
  for (const v of values) if (v && v.length >= 6) captured.secrets.add(v);
}

/**
 * The log lines that hold a registered secret as a token of its own: not flanked by a letter or
 * digit. A six-digit code can turn up by chance inside a random request id (a UUID such as
 * 3159376b-...) without having leaked; printed anywhere, it would stand alone ("code":"159376").
 */
export function leaks(): { secret: string; line: string }[] {
  const found: { secret: string; line: string }[] = [];
  const patterns = [...captured.secrets].map((secret) => ({
    secret,
    re: new RegExp(`(?<![A-Za-z0-9])${secret.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(?![A-Za-z0-9])`),
  }));
  for (const line of captured.lines) {
    for (const { secret, re } of patterns) if (line.includes(secret) && re.test(line)) found.push({ secret: `${secret.slice(0, 3)}…`, line });
  }
  return found;
}

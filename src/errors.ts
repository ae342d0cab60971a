// Errors the service means to show a client: status, a stable UPPER_SNAKE code, and a message
// written for a human. Never put a secret, a code, a path or an SQL message in one.

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    // An AppError is an answer (401, 404, 429...), not a fault: capturing a stack trace for it
    // cost ~2.4 % of the CPU of POST /totp/verify under wrong codes (issue 5). Only 5xx keep one.
    const limit = Error.stackTraceLimit;
    if (status < 500) Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'AppError';
  }
}

export const unauthorized = (message = 'A valid X-API-Key header is required') =>
  new AppError(401, 'UNAUTHORIZED', message);
export const notFound = (code: string, message: string) => new AppError(404, code, message);
export const badRequest = (code: string, message: string) => new AppError(400, code, message);
export const conflict = (code: string, message: string) => new AppError(409, code, message);

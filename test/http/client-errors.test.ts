import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientErrorHandler } from '../../src/http/plugins/errors.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

// What is not a request Fastify can route (not HTTP, headers over Node's limit, bytes after a
// connection's last request) is handled by Node's `clientError` (plugins/errors.ts), over a real
// socket: the error format when an answer can still be given, and never a second answer on a
// connection that already carried one.

let t: TestApp;
let port: number;

beforeAll(async () => {
  t = await createTestApp();
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  port = (t.app.server.address() as AddressInfo).port;
});
afterAll(() => t.close());

/** Opens a connection and gives the bytes received so far, a way to send more, and its end. */
function connection() {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  const waiters: Array<() => void> = [];
  const ended = new Promise<string>((resolve) => {
    socket.on('close', () => resolve(received));
    socket.on('error', () => undefined);
  });
  socket.on('data', (d) => {
    received += d.toString('latin1');
    for (const w of waiters.splice(0)) w();
  });
  return {
    send: (text: string) => socket.write(text),
    /** Resolves once `count` complete answers (status line, headers, Content-Length body) have arrived. */
    async answers(count: number): Promise<string> {
      while (completeAnswers(received) < count) await new Promise<void>((r) => waiters.push(r));
      return received;
    },
    ended,
  };
}

function completeAnswers(text: string): number {
  let n = 0;
  let at = 0;
  for (;;) {
    const head = text.indexOf('\r\n\r\n', at);
    if (head < 0) return n;
    const length = Number(/content-length: *(\d+)/i.exec(text.slice(at, head))?.[1] ?? 0);
    if (text.length < head + 4 + length) return n;
    n++;
    at = head + 4 + length;
  }
}

const statusLines = (text: string) => text.match(/HTTP\/1\.1 \d{3}[^\r]*/g) ?? [];
const lastBody = (text: string) => JSON.parse(text.slice(text.lastIndexOf('\r\n\r\n') + 4)) as unknown;

describe("Node's clientError", () => {
  it('answers bytes that are not HTTP with 400 in the error format, and closes', async () => {
    const c = connection();
    c.send('HELLO THERE\r\n\r\n');
    const text = await c.ended;
    expect(statusLines(text)).toEqual(['HTTP/1.1 400 Bad Request']);
    expect(lastBody(text)).toEqual({ error: 'The request is not valid HTTP', code: 'BAD_REQUEST' });
  });

  it('answers headers over the limit with 431 HEADERS_TOO_LARGE', async () => {
    const c = connection();
    c.send(`GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    const text = await c.ended;
    expect(statusLines(text)).toEqual(['HTTP/1.1 431 Request Header Fields Too Large']);
    expect(lastBody(text)).toMatchObject({ code: 'HEADERS_TOO_LARGE' });
  });

  it('still answers a malformed request on a kept-alive connection after a finished one', async () => {
    const c = connection();
    c.send('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.answers(1);
    c.send('GET /health HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n');
    const text = await c.ended;
    expect(statusLines(text)).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 400 Bad Request']);
    expect(lastBody(text)).toEqual({ error: 'The request is not valid HTTP', code: 'BAD_REQUEST' });
  });

  it('never puts a second answer on a connection after the first: a GET sent with a body by Node\'s own client', async () => {
    // Node's HTTP client sends a GET's body with no Content-Length nor chunked framing, after a
    // request that says Connection: close. When those bytes arrive after the answer has gone
    // out, Node reports them as a client error (HPE_CLOSED_CONNECTION); the service used to
    // write a 400 after the 200, which the client read as a parse error, a few times in a
    // hundred. The answer is the 200 or, when the bytes arrive with the request, a 400.
    const failures: string[] = [];
    const statuses = new Set<number>();
    for (let i = 0; i < 200; i++) {
      await new Promise<void>((resolve) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'GET', path: '/seed/public-key', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
          statuses.add(res.statusCode ?? 0);
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', (err) => {
          failures.push(err.message);
          resolve();
        });
        req.end('{"x":1}');
      });
    }
    expect(failures).toEqual([]);
    expect([...statuses].every((s) => s === 200 || s === 400)).toBe(true);
  });

  it('writes nothing more once an answer has started on the socket, and closes it', () => {
    const written: string[] = [];
    let destroyed = false;
    const socket = {
      destroyed: false,
      writable: true,
      _httpMessage: { headersSent: true },
      write: (s: string) => written.push(s),
      destroy: () => {
        destroyed = true;
      },
    };
    const err = Object.assign(new Error('Parse Error: Data after `Connection: close`'), { code: 'HPE_CLOSED_CONNECTION' });
    clientErrorHandler(err, socket as unknown as Socket);
    expect(written).toEqual([]);
    expect(destroyed).toBe(true);
    // With no answer in flight, the same error is answered in the error format.
    socket._httpMessage = null as unknown as { headersSent: boolean };
    destroyed = false;
    clientErrorHandler(err, socket as unknown as Socket);
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*"code":"BAD_REQUEST"/);
    expect(destroyed).toBe(true);
  });
});

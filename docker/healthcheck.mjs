// Docker HEALTHCHECK for the API container: healthy only when GET /health answers 200 with
// {"status":"ok"} within 3 seconds. The image has no curl; Node's fetch is enough.
const port = process.env.PORT || '8080';
try {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) });
  const body = await res.json();
  process.exit(res.status === 200 && body.status === 'ok' ? 0 : 1);
} catch {
  process.exit(1);
}

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

// The two processes under load: the service and the baseline. Each is its own `node` process
// (so its RSS is its own and the load generator does not share its event loop), listening on
// 127.0.0.1 only, its log lines going to a file like a container's stdout would.

const run = promisify(execFile);

/** Where the compiled service and baseline go: under node_modules so their imports resolve. */
export const BUILD_DIR_NAME = join('node_modules', '.cache', 'two-factor-bench');

/**
 * Compiles the service and the baseline with the production settings (tsconfig.build.json via
 * bench/tsconfig.bench.json) into a private directory, so the shared dist/ is left alone.
 */
export async function buildCompiled(root: string): Promise<{ server: string; baseline: string }> {
  const out = join(root, BUILD_DIR_NAME);
  // From scratch: a file left by an earlier build of another checkout (a migration this one
  // does not have) would otherwise run with this one.
  rmSync(out, { recursive: true, force: true });
  await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'bench', 'tsconfig.bench.json')], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: { stdout?: string; message: string }) => {
    throw new Error(`compiling the service failed:\n${err.stdout ?? err.message}`);
  });
  cpSync(join(root, 'src', 'db', 'migrations'), join(out, 'src', 'db', 'migrations'), { recursive: true });
  return { server: join(out, 'src', 'server.js'), baseline: join(out, 'bench', 'baseline-server.js') };
}

/**
 * The NODE_OPTIONS the image starts the service with (the Dockerfile's `ENV NODE_OPTIONS=`), so
 * that the benchmark measures the service as it is deployed.
 */
export function imageNodeOptions(root: string): string {
  const m = /^ENV NODE_OPTIONS=(\S+)\s*$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  if (!m?.[1]) throw new Error('the Dockerfile sets no ENV NODE_OPTIONS=... for the benchmark to start the service with');
  return m[1];
}

export function sourceEntries(root: string): { server: string; baseline: string } {
  return { server: join(root, 'src', 'server.ts'), baseline: join(root, 'bench', 'baseline-server.ts') };
}

/** A port the kernel just handed out on 127.0.0.1 (free unless someone grabs it meanwhile). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export type Managed = {
  name: string;
  pid: number;
  port: number;
  logFile: string;
  /** Resident set size now, in bytes (Linux /proc; 0 elsewhere). */
  rss(): number;
  /** The kernel's high-water mark of the resident set since the process started (VmHWM). */
  peakRss(): number;
  /** CPU seconds (user + system) the process has used so far (Linux /proc; 0 elsewhere). */
  cpuSeconds(): number;
  stop(): Promise<void>;
};

function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

// /proc/<pid>/stat fields 14 and 15 (utime, stime) in clock ticks; USER_HZ is 100 on Linux.
function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export type StartOptions = {
  name: string;
  entry: string;
  fromSource: boolean;
  env: Record<string, string>;
  port: number;
  cwd: string;
  logDir: string;
  /** A path answered with 200 once the process serves. */
  readyPath: string;
  /** Extra node flags (--cpu-prof ...). */
  nodeArgs?: string[];
};

/** Starts `node <entry>` with exactly `env` (plus PATH/HOME), and waits until it answers. */
export async function startProcess(o: StartOptions): Promise<Managed> {
  const logFile = join(o.logDir, `${o.name}.log`);
  const errFile = join(o.logDir, `${o.name}.stderr`);
  const out = openSync(logFile, 'a');
  const err = openSync(errFile, 'a');
  const args = [...(o.nodeArgs ?? []), ...(o.fromSource ? ['--import', 'tsx'] : []), o.entry];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: o.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...o.env, PORT: String(o.port), HOST: '127.0.0.1' },
    stdio: ['ignore', out, err],
  });
  closeSync(out);
  closeSync(err);
  let exited: number | null | undefined;
  const exitedP = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const pid = child.pid ?? 0;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== undefined) {
      throw new Error(`${o.name} exited with ${exited} before serving:\n${readFileSync(errFile, 'utf8').slice(-2000)}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${o.port}${o.readyPath}`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${o.name} did not answer ${o.readyPath} within 60 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name: o.name,
    pid,
    port: o.port,
    logFile,
    rss: () => procStatusBytes(pid, 'VmRSS'),
    peakRss: () => procStatusBytes(pid, 'VmHWM'),
    cpuSeconds: () => procCpuSeconds(pid),
    async stop() {
      if (exited !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exitedP;
      clearTimeout(timer);
    },
  };
}

/** Samples a process's RSS every `everyMs` until stopped; returns the highest sample. */
export function rssSampler(proc: Managed, everyMs = 100): { stop(): number } {
  let peak = proc.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, proc.rss());
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, proc.rss());
    },
  };
}

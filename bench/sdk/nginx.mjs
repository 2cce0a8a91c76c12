// The sidecar users run today: nginx on loopback adding a static Authorization header on the way
// to the target, with keep-alive both sides. Config generated into a temp dir, nginx run in the
// foreground without any root path (prefix, pid, logs and temp paths all inside the temp dir).
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The nginx binary, or `undefined` when it is not installed (sbin is often not on PATH). */
export function findNginx() {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'nginx');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

export function nginxVersion(binary) {
  const out = spawnSync(binary, ['-v'], { encoding: 'utf8' });
  return /nginx\/(\S+)/.exec(`${out.stderr}${out.stdout}`)?.[1] ?? 'unknown';
}

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

function processTreeCpuUs(pid) {
  try {
    let ticks = 0;
    const pids = [pid];
    for (let i = 0; i < pids.length; i++) {
      const stat = readFileSync(`/proc/${pids[i]}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd on
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
      const children = readFileSync(`/proc/${pids[i]}/task/${pids[i]}/children`, 'utf8').trim();
      if (children) pids.push(...children.split(/\s+/).map(Number));
    }
    return (ticks / TICKS_PER_SECOND) * 1e6;
  } catch {
    return undefined;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Starts nginx proxying 127.0.0.1:<port> → 127.0.0.1:<upstreamPort> with `authorization` set. */
export async function startNginx({ binary, upstreamPort, authorization }) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-nginx-'));
  chmodSync(dir, 0o755); // when run as root, the worker runs as `nobody` and must reach its temp paths
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;

events {
  worker_connections 1024;
}

http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  upstream target {
    server 127.0.0.1:${upstreamPort};
    keepalive 32;
    keepalive_requests 1000000;
  }

  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;

    location / {
      proxy_pass http://target;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "${authorization}";
    }
  }
}
`,
  );
  const child = spawn(binary, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  let exitCode;
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exitCode = code ?? signal))));
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (exitCode !== undefined || Date.now() > deadline) {
      const log = (() => {
        try {
          return readFileSync(join(dir, 'error.log'), 'utf8');
        } catch {
          return '';
        }
      })();
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx did not start (exit ${exitCode}): ${stderr}${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    pid: child.pid,
    config: conf,
    /** CPU time of the master and its workers so far (Linux /proc), or `undefined` elsewhere. */
    cpuUs: () => processTreeCpuUs(child.pid),
    async stop() {
      if (exitCode === undefined) {
        child.kill('SIGQUIT'); // graceful: the master waits for its worker
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

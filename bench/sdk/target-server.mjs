// The protected API the benchmark calls: a tiny node:http server (HTTP/1.1 keep-alive) in its own
// process, answering every request with a small JSON body. It listens on two ports with the same
// handler — `managed` (the server workload in the directory) and `plain` (not in the directory:
// the plain, unmanaged and nginx variants call it) — and records which Authorization header
// arrived on each, so the orchestrator can check what every variant really sent.
//
// IPC: sends { type: 'ready', ports: { managed, plain } }; answers { type: 'stats' } with
// { type: 'stats', seen: { managed: {header: count}, plain: {...} }, duplicates, connections, cpuUs }
// and resets the counts (connections: accepted per port; cpuUs: the process's CPU time so far).
import http from 'node:http';

const BODY = JSON.stringify({ ok: true, items: [{ id: 1, name: 'alpha' }, { id: 2, name: 'beta' }] });
const NONE = '(none)';

let seen = { managed: new Map(), plain: new Map() };
let duplicates = 0;
/** TCP connections accepted: with keep-alive, a phase opens at most one per request in flight. */
let connections = { managed: 0, plain: 0 };

function serve(name) {
  const server = http.createServer((req, res) => {
    const counts = seen[name];
    const auth = req.headers.authorization ?? NONE;
    counts.set(auth, (counts.get(auth) ?? 0) + 1);
    // Node keeps only the first of repeated Authorization headers: count repeats on the wire.
    let n = 0;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 13 && raw[i].toLowerCase() === 'authorization') n++;
    if (n > 1) duplicates++;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
    res.end(BODY);
  });
  server.on('connection', () => connections[name]++);
  // Longer than nginx's upstream keepalive_timeout (60 s) and undici's client-side idle timeout
  // (4 s), so it is always the client that closes an idle connection.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

const ports = { managed: await serve('managed'), plain: await serve('plain') };
process.on('message', (message) => {
  if (message?.type !== 'stats') return;
  const out = { managed: Object.fromEntries(seen.managed), plain: Object.fromEntries(seen.plain) };
  const cpu = process.cpuUsage();
  process.send({ type: 'stats', seen: out, duplicates, connections, cpuUs: cpu.user + cpu.system });
  seen = { managed: new Map(), plain: new Map() };
  duplicates = 0;
  connections = { managed: 0, plain: 0 };
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready', ports });

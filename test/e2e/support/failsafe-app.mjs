// An application as a user writes one, started with `node --import @tessera/sdk/register`. What
// it does comes from its environment, so one script covers every start-up case of the test:
//   APP_REQUESTS     JSON list of { client: 'fetch' | 'http', url }: made one after the other at start
//   APP_KEEP_ALIVE_MS  work of its own that keeps the event loop alive this long
//   APP_EXIT_CODE    the exit code it sets (process.exitCode)
//   APP_SIGNAL_HANDLER  'exit-42': a SIGTERM/SIGINT handler of its own that exits with 42;
//                    'signal-exit': an exit hook through signal-exit (no handler of its own)
//   APP_SERVE        '1': stays up (an interval) until a signal ends it
// Every line on stdout is JSON; with an IPC channel it also takes calls, { id, op: client, args: { url } }.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

// The first line of the application: when it runs (ms since the process started) is the test's point.
print({ line: 'first', atMs: Math.round(performance.now()) });

/** The error and its causes, outermost first: names, codes and messages only. */
function describeError(error) {
  const chain = [];
  for (let current = error; current !== undefined && current !== null && chain.length < 6; current = current.cause) {
    chain.push({ name: current.name, code: typeof current.code === 'string' ? current.code : undefined, message: String(current.message ?? current) });
  }
  return chain;
}

function httpGet(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  });
}

async function call({ client, url }) {
  const started = performance.now();
  try {
    const answer = client === 'http' ? await httpGet(url) : await fetch(url).then(async (r) => ({ status: r.status, body: await r.text() }));
    return { client, ok: true, ...answer, ms: Math.round(performance.now() - started) };
  } catch (error) {
    return { client, ok: false, errors: describeError(error), ms: Math.round(performance.now() - started) };
  }
}

const signalHandler = process.env.APP_SIGNAL_HANDLER;
if (signalHandler === 'exit-42') {
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      print({ line: 'own-handler', signal });
      setTimeout(() => process.exit(42), 50);
    });
  }
}

if (signalHandler === 'signal-exit') {
  const { onExit } = await import('signal-exit');
  onExit((code, signal) => {
    print({ line: 'exit-hook', signal }); // returns nothing: returning true would keep the process up
  });
}

if (process.env.APP_EXIT_CODE) process.exitCode = Number(process.env.APP_EXIT_CODE);

for (const request of JSON.parse(process.env.APP_REQUESTS ?? '[]')) print({ line: 'request', ...(await call(request)) });

if (process.env.APP_KEEP_ALIVE_MS) setTimeout(() => print({ line: 'own-work-done' }), Number(process.env.APP_KEEP_ALIVE_MS));
if (process.env.APP_SERVE === '1') setInterval(() => {}, 60_000);

if (process.send) {
  process.on('message', async ({ id, op, args }) => process.send({ id, ...(await call({ client: op, url: args.url })) }));
  process.send({ ready: true });
}
print({ line: 'started' });

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from './support/cloud-e2e.js';
import { API_KEY, EXPLICIT_APP, startWorld, type AppRun, type World } from './support/failsafe-world.js';

/**
 * The SDK never fails silently: with the control plane unreachable (port closed, answering 503,
 * accepting and never answering) or unusable from this process (`--max-http-header-size=1`), an
 * application started with `--import @tessera/sdk/register` still starts within the start
 * timeout and keeps its own exit code; a request the SDK cannot classify yet waits (bounded) and
 * fails closed, or is sent in fail-open; the outage is logged once when it starts and once when
 * it ends. Every case runs real processes.
 */
let world: World;
const START_TIMEOUT_MS = 1000;

beforeAll(async () => {
  world = await startWorld();
});

afterEach(() => {
  world.gate.reset('forward');
});

afterAll(async () => {
  await world?.close();
});

/** The application's environment with the control plane at `cloudUrl`. */
const envFor = (cloudUrl: string, extra: Record<string, string> = {}) => ({
  ...world.env,
  TESSERA_CLOUD_URL: cloudUrl,
  TESSERA_START_TIMEOUT_MS: String(START_TIMEOUT_MS),
  TESSERA_REQUEST_TIMEOUT_MS: '1500',
  TESSERA_DEADLINE_MS: '2500',
  ...extra,
});

const tesseraLines = (run: { stderr: string } | string) => (typeof run === 'string' ? run : run.stderr).split('\n').filter((line) => line.startsWith('tessera:'));
const requestLines = (run: AppRun) => run.lines.filter((line) => line.line === 'request');

describe('register: the application always starts, within the start timeout, and keeps its exit code', () => {
  const cases = [
    { name: 'connection refused', url: () => world.refusedUrl, mode: 'forward' as const },
    { name: 'answering 503', url: () => world.gate.url, mode: 'unavailable' as const },
    { name: 'accepting and never answering', url: () => world.gate.url, mode: 'hang' as const },
  ];
  for (const { name, url, mode } of cases) {
    it(`control plane ${name}: with and without work of its own keeping the loop alive`, async () => {
      world.gate.reset(mode);
      // A deadline far beyond the start timeout: the start must not wait for it.
      const env = (extra: Record<string, string>) => envFor(url(), { TESSERA_DEADLINE_MS: '20000', ...extra });
      const [alone, busy] = await Promise.all([
        world.runApp(env({ APP_EXIT_CODE: '3' })),
        world.runApp(env({ APP_EXIT_CODE: '4', APP_KEEP_ALIVE_MS: '1500' })),
      ]);
      for (const run of [alone, busy]) {
        expect(run.lines[0], run.stderr).toMatchObject({ line: 'first' });
        // Held back by the start timeout, not the deadline (plus loading Node and the SDK on a busy machine).
        expect(run.lines[0]!.atMs).toBeLessThan(START_TIMEOUT_MS + 7000);
        expect(run.lines.at(-1)).toMatchObject({ line: busy === run ? 'own-work-done' : 'started' });
        // Visible at the default log level: the application started without an attestation.
        expect(tesseraLines(run).some((line) => line.includes('not attested within 1000 ms')), run.stderr).toBe(true);
      }
      expect(alone.code).toBe(3);
      expect(busy.code).toBe(4);
    });
  }

  it('a healthy control plane: the application starts after the attestation, silently', async () => {
    const run = await world.runApp(envFor(world.gate.url, { APP_REQUESTS: JSON.stringify([{ client: 'fetch', url: `${world.api.url}/v1/healthy` }]) }));
    expect(run.code).toBe(0);
    expect(requestLines(run)).toEqual([expect.objectContaining({ ok: true, status: 200 })]);
    expect(world.api.received.at(-1)).toEqual({ url: '/v1/healthy', authorization: [`Bearer ${API_KEY}`] });
    expect(tesseraLines(run)).toEqual([]);
  });
});

describe('an environment that breaks the SDK’s own calls is the same visible outage', () => {
  const cases = [
    { name: 'a proxy that refuses connections (HTTPS_PROXY)', env: () => ({ HTTPS_PROXY: world.refusedUrl }), cause: /ECONNREFUSED/ },
    { name: 'a control plane certificate this process does not trust', env: () => ({ NODE_EXTRA_CA_CERTS: '' }), cause: /certificate/ },
  ];
  for (const { name, env, cause } of cases) {
    it(name, async () => {
      const run = await world.runApp(envFor(world.gate.url, { TESSERA_START_TIMEOUT_MS: '200', APP_EXIT_CODE: '7', APP_REQUESTS: JSON.stringify([{ client: 'fetch', url: `${world.api.url}/v1/env` }]), ...env() }));
      expect(run.code, run.stderr).toBe(7);
      expect(requestLines(run)[0]!.errors).toContainEqual(expect.objectContaining({ name: 'TesseraUnavailableError', code: 'cloud_unavailable' }));
      const outage = tesseraLines(run).filter((line) => line.includes('cannot be reached'));
      expect(outage, run.stderr).toHaveLength(1);
      expect(outage[0]).toMatch(cause);
    });
  }
});

describe('before the first attestation, a request waits (bounded), then fails closed — or is sent in fail-open', () => {
  const requests = (path: string) => JSON.stringify([{ client: 'fetch', url: `${world.api.url}${path}` }, { client: 'http', url: `${world.api.url}${path}` }]);

  for (const { name, url, mode } of [
    { name: 'connection refused', url: () => world.refusedUrl, mode: 'forward' as const },
    { name: 'never answering', url: () => world.gate.url, mode: 'hang' as const },
  ]) {
    it(`closed (control plane ${name}): fetch and node:http fail with TesseraUnavailableError; nothing is sent; the app goes on`, async () => {
      world.gate.reset(mode);
      const before = world.api.received.length;
      const run = await world.runApp(envFor(url(), { TESSERA_START_TIMEOUT_MS: '200', APP_EXIT_CODE: '6', APP_REQUESTS: requests('/v1/closed') }));
      expect(run.code).toBe(6);
      const answers = requestLines(run);
      expect(answers.map((line) => line.client), run.stderr).toEqual(['fetch', 'http']);
      for (const answer of answers) {
        expect(answer.ok).toBe(false);
        expect(answer.errors).toContainEqual(expect.objectContaining({ name: 'TesseraUnavailableError', code: 'cloud_unavailable' }));
        expect(answer.ms).toBeLessThan(2500 + 3000); // deadlineMs, plus a loaded machine's slack
      }
      expect(run.lines.at(-1)).toMatchObject({ line: 'started' });
      expect(world.api.received.length).toBe(before);
      // One line when the outage starts, with its cause; none per request.
      const outage = tesseraLines(run).filter((line) => line.includes('cannot be reached'));
      expect(outage, run.stderr).toHaveLength(1);
      expect(outage[0]).toMatch(mode === 'hang' ? /no answer/ : /ECONNREFUSED/);
    });
  }

  it('open: the request is sent without a credential, and that is logged', async () => {
    const before = world.api.received.length;
    const run = await world.runApp(envFor(world.refusedUrl, { TESSERA_START_TIMEOUT_MS: '200', TESSERA_FAIL_MODE: 'open', APP_REQUESTS: requests('/v1/open') }));
    expect(run.code).toBe(0);
    expect(requestLines(run)).toEqual([expect.objectContaining({ client: 'fetch', ok: true, status: 200 }), expect.objectContaining({ client: 'http', ok: true, status: 200 })]);
    expect(world.api.received.slice(before)).toEqual([
      { url: '/v1/open', authorization: [] },
      { url: '/v1/open', authorization: [] },
    ]);
    expect(tesseraLines(run).filter((line) => line.includes('FAIL-OPEN'))).toHaveLength(1);
  });
});

describe('explicit mode: awaiting the SDK never lets the process end mid-wait', () => {
  it('getCredential() and ready() with the control plane down reject with TesseraUnavailableError, within deadlineMs', async () => {
    const run = await world.runApp(envFor(world.refusedUrl, { APP_TARGET: `${world.api.url}/v1/explicit` }), { script: EXPLICIT_APP });
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines).toEqual([
      { step: 'getCredential', ok: false, name: 'TesseraUnavailableError', code: 'cloud_unavailable' },
      { step: 'ready', ok: false, name: 'TesseraUnavailableError', code: 'cloud_unavailable' },
      { step: 'close', ok: true },
    ]);
  });

  it('flush() and close() with requests counted and the control plane gone: they end (bounded), the report stays unsent', async () => {
    const env = envFor(world.gate.url, { APP_TARGET: `${world.api.url}/v1/explicit`, APP_STEPS: 'fetch,pause,flush,close', TESSERA_METRICS_FLUSH_INTERVAL_MS: '600000' });
    const run = await world.runApp(env, {
      script: EXPLICIT_APP,
      // The control plane goes away while the library does its own work, requests counted.
      onLine: (line) => void (line.step === 'fetch' && world.gate.reset('unavailable')),
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines).toEqual([
      { step: 'fetch', ok: true },
      { step: 'pause', ok: true },
      { step: 'flush', ok: true },
      { step: 'close', ok: true },
    ]);
  });
});

describe('an outage is logged once when it starts and once when it ends', () => {
  it('with the count of requests that failed closed meanwhile; request metrics are not complained about at each flush', async () => {
    world.gate.reset('unavailable');
    const app = await world.startApp(envFor(world.gate.url, { TESSERA_START_TIMEOUT_MS: '200', TESSERA_DEADLINE_MS: '800', TESSERA_METRICS_FLUSH_INTERVAL_MS: '200' }));
    try {
      for (let i = 0; i < 3; i += 1) {
        const reply = await app.call('fetch', { url: `${world.api.url}/v1/during` });
        expect(reply).toMatchObject({ ok: false });
      }
      await new Promise((resolve) => setTimeout(resolve, 1000)); // several event flushes
      world.gate.reset('forward');
      expect(await app.call('fetch', { url: `${world.api.url}/v1/after` })).toMatchObject({ ok: true, status: 200 });
      await new Promise((resolve) => setTimeout(resolve, 600));

      const lines = tesseraLines(app.output());
      const started = lines.filter((line) => line.includes('cannot be reached'));
      expect(started, app.output()).toHaveLength(1);
      expect(started[0]).toMatch(/HTTP 503/);
      const ended = lines.filter((line) => line.includes('answers again'));
      expect(ended, app.output()).toHaveLength(1);
      expect(ended[0]).toMatch(/"failedClosed":3/);
      expect(lines.filter((line) => line.includes('request metrics not delivered'))).toEqual([]);
    } finally {
      await app.stop();
    }
  });
});

describe('a denial is remembered for a short while', () => {
  it('a client retrying a denied request gets the same typed denial each time, for one call to the control plane', async () => {
    const app = await world.startApp(world.env);
    try {
      const denials = async () => (await auditEvents(world.cloud.url, world.adminKey, 'edge.credential')).filter((event) => event.outcome === 'deny').length;
      const before = await denials();
      const started = Date.now();
      const replies = [];
      for (let i = 0; i < 5; i += 1) replies.push(await app.call('fetch', { url: `${world.ledger.url}/v1/entries` }));
      for (const reply of replies) {
        expect(reply.ok).toBe(false);
        expect(reply.errors).toContainEqual(expect.objectContaining({ name: 'TesseraAccessDeniedError', code: 'condition_failed' }));
      }
      expect(await denials()).toBe(before + 1);
      expect(world.ledger.received).toEqual([]);
      expect(Date.now() - started).toBeLessThan(5_000); // within the memory (5 s): every retry was answered from it
    } finally {
      await app.stop();
    }
  });
});

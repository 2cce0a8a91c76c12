/**
 * Zero-code entry: `node --import @tessera/sdk/register app.js` (or in `NODE_OPTIONS`).
 * Configured by the `TESSERA_*` environment variables (see docs/sdk.md); starts Tessera before
 * the application's first line runs (waiting at most the start timeout for the attestation), and
 * sends the last request metrics when the process ends: on its own, or by SIGTERM/SIGINT that
 * the application does not handle itself.
 *
 * The Node.js version is checked first, with a module that imports nothing: the rest is loaded
 * only after it (imports are hoisted), since it would break on an older Node with an error that
 * says nothing of the version. There the process stops with one line, before the application.
 */
import { unsupportedNodeMessage } from './node-version.js';

const unsupported = unsupportedNodeMessage();
if (unsupported !== undefined) {
  process.stderr.write(`@tessera/sdk: ${unsupported}\n`);
  process.exit(1);
}

const { optionsFromEnv } = await import('./config/env.js');
const { init, shutdown } = await import('./init.js');
const { waitAtMost } = await import('./runtime/bounded-wait.js');

/** On a stop signal, the last report may hold the process back this long at most. */
const SIGNAL_FLUSH_MS = 2_000;

await init(optionsFromEnv(process.env));

let stopping: Promise<void> | undefined;
const stop = (): Promise<void> => (stopping ??= shutdown().catch(() => {}));

process.on('beforeExit', () => void stop());

/**
 * A SIGTERM or SIGINT the application does not handle would end the process at once, and the
 * requests counted since the last report with it. Ours reports them (bounded), then raises the signal
 * again with no listener left, so the process ends as it would have: killed by that signal. When
 * the application listens for the signal itself, it decides what happens, and ours does nothing.
 */
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  let received = false;
  const onSignal = () => {
    if (process.listenerCount(signal) - 1 - signalExitListeners() > 0) return; // the application's own handler decides
    const raiseAgain = () => {
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    if (received) return raiseAgain(); // a second one: no more waiting
    received = true;
    void waitAtMost(stop(), SIGNAL_FLUSH_MS).then(raiseAgain);
  };
  process.on(signal, onSignal);
}

/**
 * Listeners of signal-exit (v3 and v4, in many applications' dependencies: execa, write-file-atomic
 * ...) do not handle a signal: they run exit hooks and raise it again when they are the only
 * listeners left. They are not the application's handler, and must not be mistaken for one:
 * each side would wait for the other, and the process would not end.
 */
function signalExitListeners(): number {
  const v4 = (globalThis as Record<symbol, { count?: unknown } | undefined>)[Symbol.for('signal-exit emitter')]?.count;
  const v3 = (process as { __signal_exit_emitter__?: { count?: unknown } }).__signal_exit_emitter__?.count;
  return (typeof v4 === 'number' ? v4 : 0) + (typeof v3 === 'number' ? v3 : 0);
}

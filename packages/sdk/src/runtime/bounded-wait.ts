/** What `waitAtMost` resolves with when the time ran out first. */
export const TIMED_OUT: unique symbol = Symbol('tessera.timedOut');

/**
 * `work`'s outcome, or `TIMED_OUT` after `ms`, whichever comes first; `work` goes on either way.
 *
 * The timer is ref'd on purpose. The SDK's own timers and retry pauses are unref'd, so that
 * nothing it does in the background keeps a process alive; but while an application waits on
 * the SDK (the start of the register hook, a request waiting for the first attestation or for a
 * credential, the last flush), the process must stay up, or it ends in the middle of the wait
 * without a word.
 */
export async function waitAtMost<T>(work: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms), TIMED_OUT);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

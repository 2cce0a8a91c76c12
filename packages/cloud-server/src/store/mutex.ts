/**
 * A FIFO async mutex: tasks run one at a time, in the order they asked. The SQLite backend needs
 * it because its transaction callback is async — other requests keep running while it awaits,
 * and they must not slip their statements into the open transaction.
 */
export class AsyncMutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    // The next task waits for this one to settle, whether it succeeded or not.
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

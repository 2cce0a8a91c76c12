/**
 * Where the cloud client reports what it does. Fields are plain values (ids, names, counts,
 * times): never an edge token, a credential or evidence, whatever the level.
 */
export interface CloudLogger {
  /** `false` when debug lines are dropped: the SDK then skips work done only for them. */
  readonly debugEnabled?: boolean;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: CloudLogger = { debugEnabled: false, debug() {}, info() {}, warn() {} };

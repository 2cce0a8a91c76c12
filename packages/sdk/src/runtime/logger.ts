import type { CloudLogger } from '../cloud/logger.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'silent';

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, silent: 100 };

/**
 * The default logger: one line per message on stderr, `tessera: ...` followed by the fields as
 * JSON. Fields are ids, names, counts and error codes only (see CloudLogger), so nothing secret
 * can reach the console through it.
 */
export function consoleLogger(level: LogLevel = 'warn'): CloudLogger {
  if (!(level in RANK)) throw new TypeError(`log level must be one of ${Object.keys(RANK).join(', ')}`);
  const min = RANK[level];
  const write = (rank: number, message: string, fields?: Record<string, unknown>) => {
    if (rank < min) return;
    process.stderr.write(`${message}${fields && Object.keys(fields).length > 0 ? ` ${safeJson(fields)}` : ''}\n`);
  };
  return {
    debugEnabled: min <= RANK.debug,
    debug: (message, fields) => write(RANK.debug, message, fields),
    info: (message, fields) => write(RANK.info, message, fields),
    warn: (message, fields) => write(RANK.warn, message, fields),
  };
}

function safeJson(fields: Record<string, unknown>): string {
  try {
    return JSON.stringify(fields);
  } catch {
    return '{}';
  }
}

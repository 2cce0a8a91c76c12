import { StoreError } from './types.js';

/**
 * Translation of driver errors into backend-neutral StoreErrors. Messages name the constraint at
 * most (never a row value: PostgreSQL's `detail` quotes the offending key); the driver error stays
 * reachable as `cause` for logs.
 */

// SQLite extended result codes (https://www.sqlite.org/rescode.html).
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;
// Primary result codes that mean "the database cannot serve now", not "your statement is wrong".
const SQLITE_UNAVAILABLE_CODES = new Set([
  5, // SQLITE_BUSY
  6, // SQLITE_LOCKED
  10, // SQLITE_IOERR
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
  26, // SQLITE_NOTADB
]);

interface DriverError {
  code?: unknown;
  errcode?: unknown;
  constraint?: unknown;
  message?: unknown;
}

function asDriverError(error: unknown): DriverError {
  return typeof error === 'object' && error !== null ? (error as DriverError) : {};
}

export function mapSqliteError(error: unknown): unknown {
  if (error instanceof StoreError) return error;
  const { code, errcode, message } = asDriverError(error);
  if (code !== 'ERR_SQLITE_ERROR' || typeof errcode !== 'number') return error;
  if (errcode === SQLITE_CONSTRAINT_UNIQUE || errcode === SQLITE_CONSTRAINT_PRIMARYKEY) {
    // SQLite's message names the columns or index ("UNIQUE constraint failed: objects.id").
    const target = typeof message === 'string' ? message.replace(/^UNIQUE constraint failed: /, '') : 'unknown';
    return new StoreError('unique_violation', `unique constraint violated (${target})`, { cause: error });
  }
  if (errcode === SQLITE_CONSTRAINT_FOREIGNKEY) {
    return new StoreError('foreign_key_violation', 'foreign key constraint violated', { cause: error });
  }
  if (SQLITE_UNAVAILABLE_CODES.has(errcode & 0xff)) {
    return new StoreError('unavailable', `SQLite database unavailable (result code ${errcode})`, { cause: error });
  }
  return error;
}

// Node socket errors seen when PostgreSQL is down or unreachable.
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);

const PG_CONNECTION_MESSAGES =
  /Connection terminated|is not queryable|timeout exceeded when trying to connect|Query read timeout|timeout expired/;

export function mapPostgresError(error: unknown): unknown {
  if (error instanceof StoreError) return error;
  const { code, constraint, message } = asDriverError(error);
  const constraintName = typeof constraint === 'string' ? constraint : 'unknown';
  if (code === '23505') {
    return new StoreError('unique_violation', `unique constraint violated (${constraintName})`, { cause: error });
  }
  if (code === '23503') {
    return new StoreError('foreign_key_violation', `foreign key constraint violated (${constraintName})`, {
      cause: error,
    });
  }
  if (isPostgresUnavailable(code, message)) {
    return new StoreError('unavailable', 'PostgreSQL unavailable', { cause: error });
  }
  return error;
}

function isPostgresUnavailable(code: unknown, message: unknown): boolean {
  if (typeof code === 'string') {
    // Class 08 connection exception, 53 insufficient resources, 57P0x server shutting down/starting.
    if (code.startsWith('08') || code.startsWith('53') || /^57P0[1-4]$/.test(code)) return true;
    return NETWORK_ERROR_CODES.has(code);
  }
  // pg reports lost connections and pool timeouts as plain Errors without a code.
  return typeof message === 'string' && PG_CONNECTION_MESSAGES.test(message);
}

/** Any failure to obtain a connection at all is an availability problem. */
export function connectionError(error: unknown, backend: 'SQLite' | 'PostgreSQL'): StoreError {
  if (error instanceof StoreError) return error;
  return new StoreError('unavailable', `${backend} connection failed`, { cause: error });
}

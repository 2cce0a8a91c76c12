/**
 * The few primitives each backend provides; everything above them (statements, row mapping,
 * refs, migrations) is shared, so both backends run the very same SQL.
 */

/** Values we bind: TEXT columns take strings, INTEGER columns numbers (booleans as 0/1). */
export type SqlValue = string | number | null;

/** A result row as the driver returns it; rows.ts turns it into a typed record. */
export type SqlRow = Record<string, unknown>;

export interface SqlExecutor {
  /** Runs a statement written with `?` placeholders and returns its rows. */
  query(sql: string, params?: readonly SqlValue[]): Promise<SqlRow[]>;
  /** Runs a statement written with `?` placeholders and returns the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Runs parameterless SQL (DDL, savepoints) without caching a prepared statement for it. */
  exec(sql: string): Promise<void>;
}

/**
 * Wraps a transaction's executor so the handle stops working once the transaction has ended:
 * a `tx` leaked from its callback would otherwise write outside any transaction (or inside the
 * next one, on SQLite's shared connection).
 */
export function scopedExecutor(inner: SqlExecutor): { executor: SqlExecutor; end: () => void } {
  let ended = false;
  const live = (): SqlExecutor => {
    if (ended) throw new Error('transaction handle used after its transaction ended');
    return inner;
  };
  const executor: SqlExecutor = {
    query: async (sql, params) => live().query(sql, params),
    run: async (sql, params) => live().run(sql, params),
    exec: async (sql) => live().exec(sql),
  };
  return {
    executor,
    end: () => {
      ended = true;
    },
  };
}

/**
 * Rewrites `?` placeholders as PostgreSQL's `$1..$n`, leaving quoted literals and identifiers
 * alone. Our SQL never uses `?` for anything else (no JSON operators).
 */
export function toPostgresPlaceholders(sql: string): string {
  let result = '';
  let index = 0;
  let quote: string | null = null;
  for (const character of sql) {
    if (quote !== null) {
      if (character === quote) quote = null;
      result += character;
    } else if (character === "'" || character === '"') {
      quote = character;
      result += character;
    } else if (character === '?') {
      index += 1;
      result += `$${index}`;
    } else {
      result += character;
    }
  }
  return result;
}

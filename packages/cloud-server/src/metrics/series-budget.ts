import type { RequestMetricRow } from '../store/types.js';
import { keyOf, merge } from './report.js';

/** The target (and reason) of rows past a client workload's budget of distinct keys. */
export const OVERFLOW = '*';

/**
 * Bounds how many rows one client workload can add per minute, whatever its SDKs report: the
 * first `maxKeys` distinct keys of a minute are stored as they are; rows of further keys are
 * added into one row per server workload, outcome and status class, with target and reason
 * `*`. Counts are never lost, only detail past the budget. Per replica: with N replicas a client
 * workload may reach N × `maxKeys` keys a minute.
 *
 * Only the current minute is tracked (rows are stored in the minute they arrive), so memory is
 * bounded by the number of enabled client workloads times `maxKeys`.
 */
export class SeriesBudget {
  readonly #maxKeys: number;
  #minute = '';
  readonly #keys = new Map<string, Set<string>>();

  constructor(maxKeys = 1000) {
    this.#maxKeys = maxKeys;
  }

  /** The rows to store for this client workload's report of `minute`. */
  fit(clientWorkloadId: string, minute: string, rows: readonly RequestMetricRow[]): RequestMetricRow[] {
    if (minute !== this.#minute) {
      this.#minute = minute;
      this.#keys.clear();
    }
    let seen = this.#keys.get(clientWorkloadId);
    if (seen === undefined) this.#keys.set(clientWorkloadId, (seen = new Set()));
    let folded = false;
    const fitted = rows.map((row) => {
      const key = keyOf(row);
      if (seen.has(key)) return row;
      if (seen.size < this.#maxKeys) {
        seen.add(key);
        return row;
      }
      folded = true;
      return { ...row, target: OVERFLOW, reason: row.reason === null ? null : OVERFLOW };
    });
    return folded ? merge(fitted) : fitted;
  }
}

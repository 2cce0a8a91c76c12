import { GroupCommit } from '../store/group-commit.js';
import type { MetricReportClaim, RequestMetricRow, Store, StoreWriter } from '../store/types.js';
import { merge } from './report.js';

/** One report to store: its rows, and its id when it has one (older SDKs' events have none). */
export interface MetricsWrite {
  claim?: MetricReportClaim;
  /** The report its SDK sent before this one: no longer retried, so its id can go. */
  previousReportId?: string;
  rows: readonly RequestMetricRow[];
}

/**
 * Reports arriving together share one transaction, and their rows are added up before they are
 * written, so a fleet of processes of the same client workload costs the store about one upsert
 * per key and batch rather than one per process. A report id already claimed means the report
 * was counted before (a retry): its rows are skipped.
 */
export class MetricsWriter {
  readonly #commit: GroupCommit<MetricsWrite, boolean>;

  constructor(store: Pick<Store, 'transaction'>, options: { maxBatch?: number } = {}) {
    this.#commit = new GroupCommit(store, writeBatch, { maxBatch: options.maxBatch ?? 200 });
  }

  /** Resolves once committed: `true` when the report had been counted already. */
  write(write: MetricsWrite): Promise<boolean> {
    return this.#commit.submit(write);
  }

  /** Waits until everything queued so far is written. */
  flush(): Promise<void> {
    return this.#commit.flush();
  }
}

/** Claims each report's id, then adds up the rows of those not counted before. */
async function writeBatch(tx: StoreWriter, writes: MetricsWrite[]): Promise<boolean[]> {
  const duplicates: boolean[] = [];
  const rows: RequestMetricRow[] = [];
  for (const { claim, previousReportId, rows: reported } of writes) {
    const duplicate = claim !== undefined && !(await tx.claimMetricReport(claim));
    duplicates.push(duplicate);
    if (duplicate) continue;
    rows.push(...reported);
    if (claim !== undefined && previousReportId !== undefined) await tx.forgetMetricReport(claim.resourceSetId, claim.clientWorkloadId, previousReportId);
  }
  await tx.addRequestMetrics(merge(rows));
  return duplicates;
}

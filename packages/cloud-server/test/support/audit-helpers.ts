import { randomBytes } from 'node:crypto';
import type { AuditEvent } from '../../src/store/types.js';
import { DeliveryError, type AuditSink } from '../../src/audit/sink.js';

/** Test support (not shipped) for the exporter tests. */

/** Records what it is given; `down` makes every delivery fail. */
export class MemorySink implements AuditSink {
  readonly batches: AuditEvent[][] = [];
  down = false;
  constructor(readonly batchSize = 3) {}
  async deliver(events: readonly AuditEvent[]): Promise<void> {
    if (this.down) throw new DeliveryError('sink is down');
    this.batches.push([...events]);
  }
  async close(): Promise<void> {}
  ids(): string[] {
    return this.batches.flat().map((event) => event.id);
  }
}

/** A UUIDv7 of a given millisecond (uuidv7() never goes back in time within a process). */
export function idAt(ms: number): string {
  const time = ms.toString(16).padStart(12, '0');
  const random = randomBytes(10).toString('hex');
  const variant = (8 | (parseInt(random[3]!, 16) & 3)).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${random.slice(0, 3)}-${variant}${random.slice(4, 7)}-${random.slice(7, 19)}`;
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

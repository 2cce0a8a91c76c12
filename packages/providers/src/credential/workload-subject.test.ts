import { describe, expect, it } from 'vitest';
import { workloadSubject } from './workload-subject.js';

describe('workloadSubject', () => {
  const inSet = (set: { id: string; name: string }) => ({ clientWorkload: { id: `cw-of-${set.name}`, name: 'billing', claims: {} }, resourceSet: set });
  const a = inSet({ id: '01a20929-0000-7000-8000-00000000000a', name: 'payments' });
  const b = inSet({ id: '01a20929-0000-7000-8000-00000000000b', name: 'tenant-b' });

  it('names the resource set and the workload, so same-named workloads of two sets never share a subject', () => {
    expect(workloadSubject(a)).toBe('resource-set:01a20929-0000-7000-8000-00000000000a:client-workload:cw-of-payments');
    expect(workloadSubject(a, 'workload-name')).toBe('resource-set:payments:client-workload:billing');
    expect(workloadSubject(b, 'workload-name')).toBe('resource-set:tenant-b:client-workload:billing');
    expect(workloadSubject(a, 'workload-name')).not.toBe(workloadSubject(b, 'workload-name'));
  });
});

import type { AuditEvent } from '../store/types.js';
import { uuidv7 } from '../ids.js';
import type { Attestation } from './attest.js';
import type { DecisionTrace } from './decide.js';
import type { EdgeSession } from './edge-token.js';
import { EdgeError } from './errors.js';
import type { Target } from './policy-index.js';

/** Audit events of the edge API. They record who, what, which policy and why — never a credential. */

interface RequestMeta {
  sourceIp: string;
  sdkInstance: string | undefined;
  /** The resource set an attestation named (and that exists): a refusal is audited there. */
  resourceSetId?: string | undefined;
}

const ERROR_REASONS = new Set(['credential_provider_error', 'trust_provider_error', 'replay_cache_full']);

/** Refusal messages quote providers, custom ones included: what is recorded is bounded. */
export const MAX_AUDIT_MESSAGE_LENGTH = 512;

function outcomeOf(error: unknown): { outcome: AuditEvent['outcome']; reason: string | null; message?: string } {
  if (error === undefined) return { outcome: 'allow', reason: null };
  if (error instanceof EdgeError) {
    return { outcome: ERROR_REASONS.has(error.code) ? 'error' : 'deny', reason: error.code, message: bounded(error.message) };
  }
  return { outcome: 'error', reason: 'internal_error' };
}

function bounded(message: string): string {
  if (message.length <= MAX_AUDIT_MESSAGE_LENGTH) return message;
  let end = MAX_AUDIT_MESSAGE_LENGTH - 1;
  if (/[\uD800-\uDBFF]/.test(message[end - 1]!)) end -= 1; // never half a surrogate pair
  return `${message.slice(0, end)}…`;
}

/** The query and fragment of a target may carry tokens (`?api_key=`): the audit trail keeps the path only. */
function pathOnly(path: string): string {
  return path.split(/[?#]/, 1)[0]!;
}

function base(now: Date, kind: string): Pick<AuditEvent, 'id' | 'time' | 'kind'> {
  return { id: uuidv7(now.getTime()), time: now.toISOString(), kind };
}

export function auditAttest(
  now: Date,
  meta: RequestMeta,
  evidenceType: string,
  attestation: Attestation | undefined,
  error?: unknown,
): AuditEvent {
  const { outcome, reason, message } = outcomeOf(error);
  return {
    ...base(now, 'edge.attest'),
    outcome,
    reason,
    resourceSetId: attestation?.client.resourceSetId ?? meta.resourceSetId ?? null,
    actor: attestation?.client.id ?? null,
    clientWorkloadId: attestation?.client.id ?? null,
    serverWorkloadId: null,
    objectId: null,
    data: {
      evidenceType,
      trustProviderIds: attestation?.trustProviders.map((tp) => tp.id) ?? [],
      sourceIp: meta.sourceIp,
      ...(meta.sdkInstance ? { sdkInstance: meta.sdkInstance } : {}),
      ...(message ? { message } : {}),
    },
  };
}

export function auditCredential(
  now: Date,
  meta: RequestMeta,
  session: EdgeSession,
  target: Target,
  trace: DecisionTrace,
  credentialKind: string | undefined,
  error?: unknown,
): AuditEvent {
  const { outcome, reason, message } = outcomeOf(error);
  return {
    ...base(now, 'edge.credential'),
    outcome,
    reason,
    resourceSetId: session.resourceSetId,
    actor: session.clientWorkloadId,
    clientWorkloadId: session.clientWorkloadId,
    serverWorkloadId: trace.server?.id ?? null,
    objectId: trace.policy?.id ?? null,
    data: {
      target: { scheme: target.scheme, host: target.host, port: target.port, path: pathOnly(target.path) },
      policyId: trace.policy?.id ?? null,
      trustProviderId: trace.trustProviderId ?? null,
      credentialProviderId: trace.policy?.credentialProviderId ?? null,
      conditions: trace.conditions.map((c) => (c.reason === undefined ? c : { ...c, reason: bounded(c.reason) })),
      sourceIp: meta.sourceIp,
      ...(meta.sdkInstance ? { sdkInstance: meta.sdkInstance } : {}),
      ...(credentialKind ? { credentialKind } : {}),
      ...(message ? { message } : {}),
    },
  };
}

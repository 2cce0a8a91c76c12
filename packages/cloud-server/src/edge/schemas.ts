import type { Credential } from '@tessera/providers';
import { Type } from 'typebox';
import { LATENCY_BOUNDS_MS, LATENCY_BUCKETS } from '../metrics/latency-buckets.js';

const Host = Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:_\\[\\]-]+$' });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
/** Paths go into audit events: no control characters, spaces or DEL (a URL escapes them). */
const PATH_CHARACTERS = '[^\\u0000-\\u0020\\u007F]*';

/**
 * Headers every edge route reads. `Tessera-Sdk-Instance` is copied into audit events, so it is
 * held to a short id alphabet: a caller without any credential cannot fill the audit trail with it.
 */
export const EdgeHeaders = Type.Object({
  'tessera-sdk-instance': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 128,
      pattern: '^[A-Za-z0-9._:/@-]+$',
      description: 'A short, non-secret id of this SDK instance (1-128 letters, digits and . _ : / @ -), recorded in audit events',
    }),
  ),
});

/** `POST /edge/v1/challenge` takes an empty object: the DPoP proof says who asks. */
export const ChallengeBody = Type.Object({}, { additionalProperties: false });

export const AttestBody = Type.Object(
  {
    evidence: Type.Object(
      { type: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9-]*$' }) },
      { additionalProperties: true, description: 'Platform evidence; its other fields depend on its type' },
    ),
    resourceSet: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
        description: 'The resource set to attest into, by name or id; default: the set named `default`. Only its trust providers and client workloads take part.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const CredentialsBody = Type.Object(
  {
    target: Type.Object(
      {
        scheme: Type.Union([Type.Literal('https'), Type.Literal('http')]),
        host: Host,
        port: Port,
        path: Type.Optional(Type.String({ maxLength: 4096, pattern: `^/${PATH_CHARACTERS}$` })),
        method: Type.Optional(Type.String({ maxLength: 16, pattern: '^[A-Z]+$' })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export const EventsBody = Type.Object(
  {
    events: Type.Array(
      Type.Object(
        {
          time: Type.String({ format: 'date-time', maxLength: 64 }),
          target: Type.Object(
            { scheme: Type.Union([Type.Literal('https'), Type.Literal('http')]), host: Host, port: Port, path: Type.Optional(Type.String({ maxLength: 1024, pattern: `^${PATH_CHARACTERS}$` })) },
            { additionalProperties: false },
          ),
          outcome: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('error')]),
          statusClass: Type.Union([Type.Literal('1xx'), Type.Literal('2xx'), Type.Literal('3xx'), Type.Literal('4xx'), Type.Literal('5xx'), Type.Null()]),
          latencyMs: Type.Number({ minimum: 0, maximum: 3_600_000 }),
          reason: Type.Optional(Type.String({ maxLength: 64, pattern: '^[a-z_]+$' })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 500 },
    ),
  },
  { additionalProperties: false },
);

const ReportId = Type.String({ format: 'uuid', maxLength: 36 });
/** A target's host, or a server workload's wildcard host (`*.example.com`). */
const MetricsHost = Type.String({ minLength: 1, maxLength: 253, pattern: '^(\\*\\.)?[A-Za-z0-9.:_\\[\\]-]+$' });

export const MAX_SERIES_PER_REPORT = 500;

export const MetricsBody = Type.Object(
  {
    reportId: Type.String({ ...ReportId, description: 'A random UUID per report, the same in every retry of it: a report is counted once' }),
    previousReportId: Type.Optional(Type.String({ ...ReportId, description: 'The last report this SDK sent and will not retry, so its id can be forgotten' })),
    series: Type.Array(
      Type.Object(
        {
          serverWorkloadId: Type.Optional(Type.String({ format: 'uuid', maxLength: 36, description: 'The directory entry the requests matched; absent for requests that matched none' })),
          target: Type.Object({ scheme: Type.Union([Type.Literal('https'), Type.Literal('http')]), host: MetricsHost, port: Port }, { additionalProperties: false }),
          outcome: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('error')]),
          statusClass: Type.Union([Type.Literal('1xx'), Type.Literal('2xx'), Type.Literal('3xx'), Type.Literal('4xx'), Type.Literal('5xx'), Type.Null()]),
          reason: Type.Optional(Type.String({ maxLength: 64, pattern: '^[a-z_]+$' })),
          requests: Type.Integer({ minimum: 1, maximum: 1_000_000_000_000 }),
          latencyMsSum: Type.Number({ minimum: 0 }),
          latencyBuckets: Type.Array(Type.Integer({ minimum: 0, maximum: 1_000_000_000_000 }), {
            minItems: LATENCY_BUCKETS,
            maxItems: LATENCY_BUCKETS,
            description: `Requests per latency bucket; upper bounds in ms: ${LATENCY_BOUNDS_MS.join(', ')}, then everything slower`,
          }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_SERIES_PER_REPORT },
    ),
  },
  { additionalProperties: false },
);

/** The credential as sent to the SDK: exactly the fields needed to inject it. */
export function credentialView(credential: Credential): Record<string, string> {
  switch (credential.kind) {
    case 'token':
      return { kind: 'token', token: credential.token };
    case 'basic':
      return { kind: 'basic', username: credential.username, password: credential.password };
    case 'aws':
      return {
        kind: 'aws',
        accessKeyId: credential.accessKeyId,
        secretAccessKey: credential.secretAccessKey,
        ...(credential.sessionToken ? { sessionToken: credential.sessionToken } : {}),
      };
  }
}

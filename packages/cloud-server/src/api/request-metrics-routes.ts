import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ApiError } from './errors.js';
import { PageLimit, errorResponses, pageLimit, principalOf } from './admin-routes.js';
import { Uuid } from '../objects/common-schemas.js';
import { roleAllows, scopeFilter } from '../auth/roles.js';
import { LATENCY_BOUNDS_MS, LATENCY_BUCKETS } from '../metrics/latency-buckets.js';
import { positionOf } from '../store/metrics-sql.js';
import type { ListRequestMetricsQuery, RequestMetricPosition, Store } from '../store/types.js';

const Outcome = Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('error')]);

export const RequestMetricSchema = Type.Object({
  time: Type.String({ format: 'date-time', description: 'Start of the minute or hour' }),
  resourceSetId: Uuid,
  clientWorkloadId: Type.String({ ...Uuid, description: 'The client workload of the SDK that reported' }),
  serverWorkloadId: Type.Union([Uuid, Type.Null()], { description: 'The server workload the requests matched; null for requests that matched none (refused before the SDK knew its targets)' }),
  target: Type.String({ description: 'The server workload\'s target as configured (`https://api.example.com:443`; its host may be a wildcard), the origin of requests that matched none, or `*` for keys past the limit of a minute' }),
  outcome: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('error')], { description: '`allow`: sent with its credential; `deny`: not sent, the control plane refused; `error`: not sent or failed otherwise' }),
  statusClass: Type.Union([Type.String(), Type.Null()], { description: 'Class of the target\'s HTTP status, `1xx` … `5xx`; null when there was no answer' }),
  reason: Type.Union([Type.String(), Type.Null()], { description: 'The error code of a `deny` or `error` (`no_matching_policy`, `request_failed` …); `*` for keys past the limit of a minute' }),
  requests: Type.Integer({ description: 'How many requests' }),
  latencyMsSum: Type.Number({ description: 'Their latencies added up, in milliseconds' }),
  latencyBuckets: Type.Array(Type.Integer(), { minItems: LATENCY_BUCKETS, maxItems: LATENCY_BUCKETS, description: 'Requests per latency bucket (bounds in `latencyBucketBoundsMs`); they add up to `requests`' }),
});

const MetricsQuery = Type.Object(
  {
    since: Type.Optional(Type.String({ format: 'date-time', description: 'Minutes at or after this time' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'Minutes before this time' })),
    clientWorkloadId: Type.Optional(Uuid),
    serverWorkloadId: Type.Optional(Uuid),
    outcome: Type.Optional(Outcome),
    resourceSetId: Type.Optional(Uuid),
    groupBy: Type.Optional(Type.Union([Type.Literal('minute'), Type.Literal('hour')], { description: 'Rows per minute (default), or added up per hour' })),
    cursor: Type.Optional(Type.String({ maxLength: 1024, pattern: '^[A-Za-z0-9_-]+$', description: 'nextCursor of the previous page' })),
    limit: Type.Optional(PageLimit),
  },
  { additionalProperties: false },
);

/** GET /api/v1/request-metrics: newest first, filtered, scoped like audit events. */
export function registerRequestMetricsRoutes(app: FastifyInstance, store: Store): void {
  app.get(
    '/api/v1/request-metrics',
    {
      schema: {
        tags: ['Request metric'],
        summary: 'List request metrics, newest first',
        querystring: MetricsQuery,
        response: {
          200: Type.Object({
            items: Type.Array(RequestMetricSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
            latencyBucketBoundsMs: Type.Array(Type.Union([Type.Number(), Type.Null()]), { description: 'Upper bound of each latency bucket; null: no bound' }),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      if (!roleAllows(principal, 'read-audit')) {
        throw new ApiError('forbidden', `The ${principal.role} role may not read request metrics`);
      }
      const { cursor, limit: rawLimit, resourceSetId, since, until, groupBy, ...filters } = request.query as Record<string, string | undefined>;
      const limit = pageLimit(rawLimit);
      const query: ListRequestMetricsQuery = {
        ...(filters as Pick<ListRequestMetricsQuery, 'clientWorkloadId' | 'serverWorkloadId' | 'outcome'>),
        // Minutes are stored as ISO strings in UTC: compare like with like.
        ...(since !== undefined ? { since: new Date(since).toISOString() } : {}),
        ...(until !== undefined ? { until: new Date(until).toISOString() } : {}),
        groupBy: groupBy === 'hour' ? 'hour' : 'minute',
        limit: limit + 1,
      };
      let scope = scopeFilter(principal);
      if (resourceSetId !== undefined) scope = scope === undefined || scope.includes(resourceSetId) ? [resourceSetId] : [];
      if (scope !== undefined) query.resourceSetIds = scope;
      if (cursor !== undefined) query.after = decodePosition(cursor);
      const rows = await store.listRequestMetrics(query);
      const items = rows.slice(0, limit);
      const last = items[items.length - 1];
      return {
        items,
        nextCursor: rows.length > limit && last ? Buffer.from(JSON.stringify(positionOf(last))).toString('base64url') : null,
        latencyBucketBoundsMs: [...LATENCY_BOUNDS_MS, null],
      };
    },
  );
}

/** A cursor is the key of a page's last row; anything else is refused. */
function decodePosition(cursor: string): RequestMetricPosition {
  let position: unknown;
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    position = undefined;
  }
  const valid = Array.isArray(position) && position.length === 8 && position.every((part) => typeof part === 'string' && part.length <= 300);
  if (!valid) throw new ApiError('invalid_cursor', 'The cursor is not valid');
  return position as unknown as RequestMetricPosition;
}

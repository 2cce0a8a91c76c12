import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ApiError } from './errors.js';
import { Cursor, PageLimit, errorResponses, pageLimit, principalOf } from './admin-routes.js';
import { Uuid } from '../objects/common-schemas.js';
import { decodeCursor, encodeCursor } from '../objects/present.js';
import { isUuid } from '../ids.js';
import { roleAllows, scopeFilter } from '../auth/roles.js';
import type { AuditEvent, ListAuditQuery, Store } from '../store/types.js';

const Outcome = Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('error'), Type.Literal('success')]);

export const AuditEventSchema = Type.Object({
  id: Uuid,
  time: Type.String({ format: 'date-time' }),
  kind: Type.String(),
  outcome: Outcome,
  reason: Type.Union([Type.String(), Type.Null()]),
  resourceSetId: Type.Union([Uuid, Type.Null()]),
  actor: Type.Union([Type.String(), Type.Null()]),
  clientWorkloadId: Type.Union([Uuid, Type.Null()]),
  serverWorkloadId: Type.Union([Uuid, Type.Null()]),
  objectId: Type.Union([Uuid, Type.Null()]),
  data: Type.Record(Type.String(), Type.Unknown()),
});

const AuditQuery = Type.Object(
  {
    since: Type.Optional(Type.String({ format: 'date-time', description: 'Events at or after this time' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'Events before this time' })),
    kind: Type.Optional(Type.String({ maxLength: 64, pattern: '^[a-z][a-z0-9_.-]*$' })),
    outcome: Type.Optional(Outcome),
    actor: Type.Optional(Type.String({ maxLength: 64 })),
    clientWorkloadId: Type.Optional(Uuid),
    serverWorkloadId: Type.Optional(Uuid),
    objectId: Type.Optional(Uuid),
    resourceSetId: Type.Optional(Uuid),
    cursor: Type.Optional(Cursor),
    limit: Type.Optional(PageLimit),
  },
  { additionalProperties: false },
);

/** GET /api/v1/audit-events: newest first, filtered, scoped to the key's resource sets. */
export function registerAuditRoutes(app: FastifyInstance, store: Store): void {
  app.get(
    '/api/v1/audit-events',
    {
      schema: {
        tags: ['Audit event'],
        summary: 'List audit events, newest first',
        querystring: AuditQuery,
        response: {
          200: Type.Object({ items: Type.Array(AuditEventSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      if (!roleAllows(principal, 'read-audit')) {
        throw new ApiError('forbidden', `The ${principal.role} role may not read audit events`);
      }
      const { cursor, limit: rawLimit, resourceSetId, ...filters } = request.query as Record<string, string | undefined>;
      const limit = pageLimit(rawLimit);
      const query: ListAuditQuery = { limit: limit + 1 };
      for (const [key, value] of Object.entries(filters)) {
        if (value !== undefined) (query as unknown as Record<string, string>)[key] = value;
      }
      let scope = scopeFilter(principal);
      if (resourceSetId !== undefined) scope = scope === undefined || scope.includes(resourceSetId) ? [resourceSetId] : [];
      if (scope !== undefined) query.resourceSetIds = scope;
      if (cursor !== undefined) {
        const beforeId = decodeCursor(cursor);
        if (beforeId === undefined || !isUuid(beforeId)) throw new ApiError('invalid_cursor', 'The cursor is not valid');
        query.beforeId = beforeId;
      }
      const rows: AuditEvent[] = await store.listAuditEvents(query);
      const items = rows.slice(0, limit);
      const last = items[items.length - 1];
      return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
    },
  );
}

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { KINDS, type KindDefinition } from '../objects/kinds.js';
import type { ObjectService } from '../objects/service.js';
import type { Principal } from '../auth/roles.js';
import { Name, Uuid } from '../objects/common-schemas.js';

export const PageLimit = Type.String({ pattern: '^[0-9]{1,3}$', description: 'Page size, 1–500 (default 50)' });
export const Cursor = Type.String({ maxLength: 64, description: 'nextCursor of the previous page' });
const IdParams = Type.Object({ id: Type.String({ format: 'uuid', maxLength: 36 }) });
const errorRef = { $ref: 'Error#' };
export const errorResponses = {
  400: errorRef,
  401: errorRef,
  403: errorRef,
  404: errorRef,
  409: errorRef,
  413: errorRef,
  415: errorRef,
};

export function pageLimit(raw: string | undefined): number {
  const limit = raw === undefined ? 50 : Number(raw);
  return Math.min(Math.max(limit, 1), 500);
}

export function principalOf(request: FastifyRequest): Principal {
  // Set by the admin auth hook, which runs before any /api/v1 handler.
  return request.principal!;
}

/** Registers list / create / read / patch / delete for every admin object kind. */
export function registerObjectRoutes(app: FastifyInstance, service: ObjectService): void {
  for (const def of KINDS) registerKind(app, service, def);
}

function registerKind(app: FastifyInstance, service: ObjectService, def: KindDefinition): void {
  const base = `/api/v1/${def.plural}`;
  const one = def.title.toLowerCase();
  const a = /^[aeiou]/.test(one) ? `an ${one}` : `a ${one}`;
  const many = def.plural.replace(/-/g, ' ');
  const tags = [def.title];
  const response = def.kind === 'admin-key'
    ? Type.Object({ ...def.response.properties, key: Type.String({ description: 'The key itself, shown only once' }) })
    : def.response;

  app.get(
    base,
    {
      schema: {
        tags,
        summary: `List ${many}`,
        querystring: Type.Object(
          {
            name: Type.Optional(Name),
            ...(def.global ? {} : { resourceSetId: Type.Optional(Uuid) }),
            cursor: Type.Optional(Cursor),
            limit: Type.Optional(PageLimit),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(def.response), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const query = request.query as { name?: string; resourceSetId?: string; cursor?: string; limit?: string };
      return service.list(principalOf(request), def, {
        ...(query.name !== undefined ? { name: query.name } : {}),
        ...(query.resourceSetId !== undefined ? { resourceSetId: query.resourceSetId } : {}),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
        limit: pageLimit(query.limit),
      });
    },
  );

  app.post(
    base,
    { schema: { tags, summary: `Create ${a}`, body: def.createBody, response: { 201: response, ...errorResponses } } },
    async (request, reply) => {
      const created = await service.create(principalOf(request), def, request.body as Record<string, unknown>);
      return reply.status(201).header('location', `${base}/${created.id as string}`).send(created);
    },
  );

  app.get(
    `${base}/:id`,
    { schema: { tags, summary: `Read ${a}`, params: IdParams, response: { 200: def.response, ...errorResponses } } },
    async (request) => service.get(principalOf(request), def, (request.params as { id: string }).id),
  );

  app.patch(
    `${base}/:id`,
    {
      schema: {
        tags,
        summary: `Update ${a}`,
        description: 'Fields sent replace the stored ones; secrets are merged (null removes one).',
        params: IdParams,
        body: def.patchBody,
        response: { 200: def.response, ...errorResponses },
      },
    },
    async (request) =>
      service.update(principalOf(request), def, (request.params as { id: string }).id, request.body as Record<string, unknown>),
  );

  app.delete(
    `${base}/:id`,
    { schema: { tags, summary: `Delete ${a}`, params: IdParams, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await service.delete(principalOf(request), def, (request.params as { id: string }).id);
      return reply.status(204).send();
    },
  );
}

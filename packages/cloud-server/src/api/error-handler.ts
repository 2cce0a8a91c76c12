import type { FastifyError, FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ApiError, validationError, type ApiErrorDetail } from './errors.js';
import { StoreError } from '../store/types.js';

export const ErrorResponse = Type.Object(
  {
    code: Type.String({ description: 'Stable, machine-readable error code' }),
    message: Type.String({ description: 'Human-readable explanation; never contains a secret' }),
    details: Type.Optional(
      Type.Array(
        Type.Object({
          path: Type.Optional(Type.String()),
          message: Type.String(),
          id: Type.Optional(Type.String()),
          kind: Type.Optional(Type.String()),
        }),
      ),
    ),
  },
  { $id: 'Error' },
);

/** Fastify's own error codes, translated to ours. */
const FASTIFY_CODES: Record<string, ApiError['code']> = {
  FST_ERR_CTP_INVALID_JSON: 'invalid_json',
  // Fastify 5's name for a body that does not parse, prototype-poisoning keys included.
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_json',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
};

/**
 * Every error leaves as `{code, message, details?}`. Anything unexpected becomes a bare 500:
 * the stack and the original message go to the server log, never to the client.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const apiError = toApiError(error, request.headers['content-type']);
    if (apiError.statusCode >= 500) {
      request.log.error({ err: error }, 'request failed');
    }
    if (apiError.code === 'unauthorized') void reply.header('www-authenticate', 'Bearer');
    return reply.status(apiError.statusCode).send(apiError.toJSON());
  });

  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send(new ApiError('not_found', `No route for ${request.method} ${request.url.split('?')[0]}`).toJSON()),
  );
}

function toApiError(error: FastifyError, contentType: string | undefined): ApiError {
  if (error instanceof ApiError) return error;
  if (error.validation) {
    const context = error.validationContext ?? 'body';
    if (context === 'params') return new ApiError('invalid_id', 'The id in the path is not a UUID');
    // Fastify parses text/plain bodies into a string, which then fails the body schema: the
    // problem is the media type, not a field.
    if (context === 'body' && contentType !== undefined && !isJsonMediaType(contentType)) {
      return new ApiError('unsupported_media_type', plainMessage('unsupported_media_type'));
    }
    const details: ApiErrorDetail[] = error.validation.map((issue) => ({
      path: `/${context}${describePath(issue.instancePath, issue.params)}`,
      message: describeIssue(issue.keyword, issue.message, issue.params),
    }));
    return validationError(details);
  }
  const mapped = error.code ? FASTIFY_CODES[error.code] : undefined;
  if (mapped) return new ApiError(mapped, plainMessage(mapped));
  if (error instanceof SyntaxError && error.statusCode === 400) return new ApiError('invalid_json', plainMessage('invalid_json'));
  if (error instanceof StoreError && error.code === 'unavailable') {
    return new ApiError('unavailable', 'The store is unavailable; try again shortly');
  }
  if (error.statusCode === 405) return new ApiError('method_not_allowed', 'Method not allowed');
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    // A client error Fastify raised that we have no finer code for; its message is Fastify's own, not user data.
    return new ApiError('validation_failed', 'The request is not valid');
  }
  return new ApiError('internal_error', 'Internal error');
}

function isJsonMediaType(contentType: string): boolean {
  return contentType.split(';', 1)[0]!.trim().toLowerCase() === 'application/json';
}

function plainMessage(code: ApiError['code']): string {
  switch (code) {
    case 'invalid_json':
      return 'The request body is not valid JSON';
    case 'payload_too_large':
      return 'The request body is larger than this endpoint accepts';
    case 'unsupported_media_type':
      return 'The request body must be application/json';
    default:
      return 'The request is not valid';
  }
}

function describePath(instancePath: string, params: Record<string, unknown>): string {
  // For a missing or unknown property, point at the property itself.
  const property = (params.missingProperty ?? params.additionalProperty) as string | undefined;
  return property === undefined ? instancePath : `${instancePath}/${property}`;
}

function describeIssue(keyword: string, message: string | undefined, params: Record<string, unknown>): string {
  if (keyword === 'additionalProperties') return 'unknown field';
  if (keyword === 'required') return 'required';
  return message ?? 'is not valid';
}

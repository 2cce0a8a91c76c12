import type { FastifyBaseLogger } from 'fastify';
import { TesseraError } from '@tessera/providers';
import type { EdgeError } from './errors.js';

/**
 * Tells the operator what a workload is not told. An edge refusal caused by a provider says
 * only that the provider failed (and at most the upstream's registered error code): whether its
 * upstream refused the connection, timed out or answered HTTP 404 must not reach whoever
 * configured the URL. The provider's `upstream` details go to the server log instead: endpoint,
 * status or network failure and error code at `warn`; the upstream's own description, which is
 * free text, only at `debug`.
 */
export function logProviderFailures(log: FastifyBaseLogger, error: EdgeError): void {
  const causes: unknown[] = Array.isArray(error.cause) ? error.cause : error.cause === undefined ? [] : [error.cause];
  for (const cause of causes) {
    if (cause instanceof TesseraError) {
      if (cause.upstream === undefined) continue;
      const { description, ...upstream } = cause.upstream;
      log.warn({ reason: error.code, provider: cause.provider, upstream }, `provider failed: ${cause.message}`);
      if (description !== undefined) log.debug({ reason: error.code, provider: cause.provider, upstream: { description } }, 'upstream description');
    } else if (cause instanceof Error) {
      // A custom provider's own bug: its stack is for the operator.
      log.warn({ reason: error.code, err: cause }, `provider failed unexpectedly: ${error.message}`);
    }
  }
}

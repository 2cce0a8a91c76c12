import { createRequire } from 'node:module';

/**
 * OpenTelemetry spans around the SDK's calls to the cloud (attestation, credential fetch), made
 * through `@opentelemetry/api` when the application has it installed. Without a registered
 * OpenTelemetry SDK the API hands out no-op spans; without the package nothing is loaded at all.
 * Span attributes are names and ids: never a token, a credential or a query string.
 */
interface Span {
  setAttribute(key: string, value: string | number | boolean): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

interface OtelApi {
  trace: {
    getTracer(name: string, version?: string): {
      startActiveSpan<T>(name: string, options: { kind?: number; attributes?: Record<string, string | number | boolean> }, fn: (span: Span) => T): T;
    };
  };
  SpanKind: { CLIENT: number };
  SpanStatusCode: { ERROR: number };
}

function loadOtel(): OtelApi | undefined {
  try {
    // Resolved from the SDK's own location, which sees the application's hoisted packages.
    return createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
  } catch {
    return undefined;
  }
}

class Tracer {
  #api: OtelApi | undefined | null = null;

  /** Runs `fn` inside a client span named `name` when OpenTelemetry is present. */
  span<T>(name: string, attributes: Record<string, string | number | boolean>, fn: () => Promise<T>): Promise<T> {
    if (this.#api === null) this.#api = loadOtel();
    const api = this.#api;
    if (api === undefined) return fn();
    const tracer = api.trace.getTracer('@tessera/sdk');
    return tracer.startActiveSpan(name, { kind: api.SpanKind.CLIENT, attributes }, async (span) => {
      try {
        return await fn();
      } catch (error) {
        const code = (error as { code?: unknown } | null)?.code;
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: typeof code === 'string' ? code : 'error' });
        if (typeof code === 'string') span.setAttribute('tessera.error_code', code);
        throw error;
      } finally {
        span.end();
      }
    });
  }
}

export const tracer = new Tracer();

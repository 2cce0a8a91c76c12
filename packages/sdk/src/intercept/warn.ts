/** Where an interceptor reports its own failures. */
export interface InterceptorLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * Logs an interceptor's internal failure with the error's name and code only: a message could
 * quote a header, and headers carry credentials. A logger that throws is ignored.
 */
export function warnSafely(logger: InterceptorLogger | undefined, message: string, error: unknown): void {
  try {
    const fields: Record<string, unknown> = { error: error instanceof Error ? error.name : typeof error };
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string') fields.code = code;
    logger?.warn(message, fields);
  } catch {
    // A logger that throws must not take the request down with it.
  }
}

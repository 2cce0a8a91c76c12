/**
 * The only fetch the control plane hands to providers for outbound calls (JWKS, discovery, token
 * endpoints, STS): every call has a deadline, follows no redirect (a redirect could lead away
 * from the configured URL), and its response body is cut off past a size limit.
 */
export interface OutboundFetchOptions {
  timeoutMs?: number;
  maxResponseBytes?: number;
}

export class OutboundResponseTooLargeError extends Error {
  override name = 'OutboundResponseTooLargeError';
}

export function createOutboundFetch(options: OutboundFetchOptions = {}): typeof fetch {
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBytes = options.maxResponseBytes ?? 1024 * 1024;
  return async (input, init = {}) => {
    const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
    const response = await fetch(input, { ...init, signal, redirect: 'error' });
    const declared = Number(response.headers.get('content-length') ?? '0');
    if (declared > maxBytes) {
      await response.body?.cancel();
      throw new OutboundResponseTooLargeError(`response larger than ${maxBytes} bytes`);
    }
    if (!response.body) return response;
    let received = 0;
    const limited = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          received += chunk.byteLength;
          if (received > maxBytes) controller.error(new OutboundResponseTooLargeError(`response larger than ${maxBytes} bytes`));
          else controller.enqueue(chunk);
        },
      }),
    );
    const wrapped = new Response(limited, { status: response.status, statusText: response.statusText, headers: response.headers });
    // Keep the final URL: OAuth/OIDC clients check where a response came from.
    Object.defineProperty(wrapped, 'url', { value: response.url });
    return wrapped;
  };
}

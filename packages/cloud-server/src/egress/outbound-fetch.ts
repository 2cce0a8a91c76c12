import { DestinationRefusedError, type DestinationGuard } from './destination-guard.js';

/**
 * The only fetch the control plane hands to providers for outbound calls (JWKS, discovery, token
 * endpoints, STS): every call goes only where the egress guard lets it, has a deadline, follows
 * no redirect (a redirect could lead away from the configured URL), and its response body is cut
 * off past a size limit.
 *
 * The guard checks the addresses the host resolves to just before the call. A name that resolves
 * again differently for the connection (DNS rebinding) gains nothing: plain http is allowed only
 * to loopback hosts, which the guard checks as such, and over https the TLS handshake fails
 * before a request is sent unless the address answers for the name's certificate.
 */
export interface OutboundFetchOptions {
  /** Where providers may connect (see DestinationGuard); without one, anywhere. */
  guard?: DestinationGuard;
  /** A call refused by the guard (said to the operator; the provider sees a network failure). */
  onRefused?: (host: string, error: DestinationRefusedError) => void;
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
    // The name is resolved within the call's deadline, as the connection's own lookup would be.
    if (options.guard) await untilAborted(checkDestination(options.guard, input, options.onRefused), signal);
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

async function checkDestination(guard: DestinationGuard, input: Parameters<typeof fetch>[0], onRefused: OutboundFetchOptions['onRefused']): Promise<void> {
  const url = new URL(input instanceof Request ? input.url : input instanceof URL ? input.href : input);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  try {
    await guard.addressesOf(host);
  } catch (error) {
    if (error instanceof DestinationRefusedError) onRefused?.(host, error);
    throw error;
  }
}

/** `work`, or the signal's reason once it aborts, whichever comes first. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

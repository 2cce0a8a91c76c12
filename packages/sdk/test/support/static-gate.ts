/**
 * A RequestGate without a control plane, for interceptor tests: the targets it manages (by
 * port) get a fixed credential, cached from the first request on; everything else passes
 * untouched. Records what the interceptors report. Test support only.
 */
import type { EdgeCredential, Injection } from '../../src/inject/types.js';
import type { Grant, OutgoingRequest, RequestGate } from '../../src/runtime/gate.js';

export interface GateOutcome {
  request: OutgoingRequest;
  statusCode: number | undefined;
  error: unknown;
}

export class StaticGate implements RequestGate {
  readonly #credential: EdgeCredential;
  readonly #managed = new Map<number, { injection: Injection; credential: EdgeCredential }>();
  /** Admissions that had to wait (`admit`): the first request to a target and every one after a 401. */
  admitted = 0;
  /** 401s the interceptors reported. */
  rejections = 0;
  readonly outcomes: GateOutcome[] = [];

  constructor(credential: EdgeCredential) {
    this.#credential = credential;
  }

  /** Requests to `port` get `credential` (the gate's own by default), placed by `injection`. */
  manage(port: number, injection: Injection, credential: EdgeCredential = this.#credential): void {
    this.#managed.set(port, { injection, credential });
  }

  tryAdmit(request: OutgoingRequest): Grant | undefined {
    return this.#grant(request);
  }

  async admit(request: OutgoingRequest): Promise<Grant | undefined> {
    this.admitted += 1;
    return this.#grant(request);
  }

  rejected(_grant: Grant): void {
    this.rejections += 1;
  }

  finished(_grant: Grant, request: OutgoingRequest, statusCode: number | undefined, error?: unknown): void {
    this.outcomes.push({ request, statusCode, error });
  }

  bypassed(): boolean {
    return false;
  }

  #grant(request: OutgoingRequest): Grant | undefined {
    const managed = this.#managed.get(request.port);
    if (managed === undefined) return undefined;
    const { injection, credential } = managed;
    const entry = { serverWorkloadId: `sw-${request.port}`, name: `target-${request.port}`, scheme: request.scheme === 'https' ? 'https' : 'http', host: request.host, port: request.port, pathPrefix: '/', injection } as const;
    const issued = { credential, injection, expiresAt: Date.now() + 3_600_000, serverWorkloadId: entry.serverWorkloadId, policyId: 'policy-static' };
    return { entry, issued, startedAt: performance.now() };
  }
}

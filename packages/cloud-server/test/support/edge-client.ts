import { createHash, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';

/**
 * Test support (not shipped): what the SDK does on the wire — an ephemeral P-256 key, a DPoP
 * proof per call, attest then credentials and reports — over any transport (`inject` or real HTTP).
 */
export type Send = (
  method: string,
  path: string,
  headers: Record<string, string>,
  body: unknown,
) => Promise<{ status: number; body: any }>;

/** `Send` over the app's in-process `inject` (no socket). */
export function injectSend(app: FastifyInstance): Send {
  return async (method, path, headers, body) => {
    const response = await app.inject({ method: method as 'POST', url: path, headers, ...(body === undefined ? {} : { payload: body as object }) });
    return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : undefined };
  };
}

export class EdgeTestClient {
  edgeToken: string | undefined;

  private constructor(
    private readonly issuer: string,
    private readonly send: Send,
    private readonly privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'],
    private readonly publicJwk: JWK,
  ) {}

  static async create(issuer: string, send: Send): Promise<EdgeTestClient> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    return new EdgeTestClient(issuer, send, privateKey, await exportJWK(publicKey));
  }

  async proof(method: string, path: string, options: { token?: string; iat?: number; jti?: string; htu?: string } = {}): Promise<string> {
    const claims: Record<string, unknown> = {
      htm: method,
      htu: options.htu ?? `${this.issuer}${path}`,
      jti: options.jti ?? randomUUID(),
    };
    if (options.token) claims.ath = createHash('sha256').update(options.token).digest('base64url');
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: this.publicJwk })
      .setIssuedAt(options.iat ?? Math.floor(Date.now() / 1000))
      .sign(this.privateKey);
  }

  async challenge(options: { proof?: string } = {}) {
    return this.send('POST', '/edge/v1/challenge', { dpop: options.proof ?? (await this.proof('POST', '/edge/v1/challenge')) }, {});
  }

  /** `resourceSet` (a name or id) as the SDK's `TESSERA_RESOURCE_SET` names it; absent = the default set. */
  async attest(evidence: Record<string, unknown>, options: { resourceSet?: string } = {}) {
    const body = options.resourceSet === undefined ? { evidence } : { evidence, resourceSet: options.resourceSet };
    const response = await this.send('POST', '/edge/v1/attest', { dpop: await this.proof('POST', '/edge/v1/attest') }, body);
    if (response.status === 200) this.edgeToken = response.body.edgeToken;
    return response;
  }

  async credentials(target: { scheme: string; host: string; port: number; path?: string }, options: { proof?: string; token?: string } = {}) {
    const token = options.token ?? this.edgeToken!;
    const proof = options.proof ?? (await this.proof('POST', '/edge/v1/credentials', { token }));
    return this.send('POST', '/edge/v1/credentials', { authorization: `DPoP ${token}`, dpop: proof }, { target });
  }

  async metrics(report: unknown, options: { token?: string } = {}) {
    const token = options.token ?? this.edgeToken!;
    const proof = await this.proof('POST', '/edge/v1/metrics', { token });
    return this.send('POST', '/edge/v1/metrics', { authorization: `DPoP ${token}`, dpop: proof }, report);
  }

  async events(events: unknown[]) {
    const token = this.edgeToken!;
    const proof = await this.proof('POST', '/edge/v1/events', { token });
    return this.send('POST', '/edge/v1/events', { authorization: `DPoP ${token}`, dpop: proof }, { events });
  }
}

/**
 * A loopback AWS endpoint for tests that only checks SigV4, with the independent verifier
 * (sigv4-verifier.ts): S3's rules for service `s3`, the general ones (path escaped twice, body
 * hashed by the server) for any other. It records each request as received — the
 * request-target off the request line included — and answers 200 to a verified one. Test
 * support only.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { SigV4Error, verifySigV4, type SigV4Credential } from './sigv4-verifier.ts';

export interface FakeAwsServiceOptions {
  service: string;
  /** Default 'us-east-1'. */
  region?: string;
  credentials: SigV4Credential[];
  /** Serve HTTPS with this certificate. */
  tls?: { cert: string; key: string };
}

export interface FakeAwsRequest {
  method: string;
  /** The request-target as received: path plus query, byte for byte. */
  target: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  verified: boolean;
  /** The signature covers a hash of the body (not UNSIGNED-PAYLOAD). */
  payloadSigned?: boolean;
  accessKeyId?: string;
  /** Why it was refused, as `Code: message`; never a key, token or signature. */
  error?: string;
}

export interface FakeAwsService {
  url: string;
  port: number;
  requests: FakeAwsRequest[];
  /** Statuses to answer the next verified requests with instead of 200 (401 to test a retry). */
  answers: number[];
  close(): Promise<void>;
}

export async function startFakeAwsService(options: FakeAwsServiceOptions): Promise<FakeAwsService> {
  const scope = { region: options.region ?? 'us-east-1', service: options.service };
  const requests: FakeAwsRequest[] = [];
  const answers: number[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const record: FakeAwsRequest = { method: req.method ?? '', target: req.url ?? '', headers: { ...req.headersDistinct }, body: Buffer.concat(chunks), verified: false };
      // One value per header as Node parses them, repeated ones kept apart for the canonical form.
      for (const [name, values] of Object.entries(record.headers)) if (Array.isArray(values) && values.length === 1) record.headers[name] = values[0];
      requests.push(record);
      let status = 200;
      let body: object = { ok: true };
      try {
        const verified = verifySigV4(record, options.credentials, scope);
        Object.assign(record, { verified: true, payloadSigned: verified.payloadSigned, accessKeyId: verified.accessKeyId });
        status = answers.shift() ?? 200;
      } catch (error) {
        const refusal = error instanceof SigV4Error ? error : new SigV4Error(500, 'InternalFailure', String(error));
        record.error = `${refusal.code}: ${refusal.message}`;
        status = refusal.status;
        body = { __type: refusal.code, message: refusal.message };
      }
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  };

  const server = options.tls ? createHttpsServer(options.tls, handle) : createHttpServer(handle);
  // Idle keep-alive connections stay open for the whole test: a client reusing one just as the
  // server closed it would fail with ECONNRESET, which says nothing about what is tested.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    answers,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

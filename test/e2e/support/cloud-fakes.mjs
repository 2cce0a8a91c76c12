// The cloud side of the per-cloud end-to-end tests, in a process of its own: the provider's
// loopback fakes (loaded from their TypeScript sources with Node's type stripping) and a
// protected storage API. `node cloud-fakes.mjs aws|gcp|azure`; configured by the environment below.
// Prints one JSON line (endpoints, ports, and for AWS the IMDS signing certificate) once
// everything listens; `GET /` on the control port returns what each fake saw and issued.
//
// aws (env CLOUD_URL, WORKLOAD_SUBJECT, ROLE_ARN):
// - imds:      IMDSv2 serving an identity document signed now;
// - staleImds: the same instance, the same AWS signer, a document signed three days ago (what an
//              attacker who copied it back then would replay);
// - sts:       AssumeRoleWithWebIdentity, verifying the cloud's JWT against the cloud's JWKS
//              (`iss` = the cloud, `aud` = sts.amazonaws.com, `sub` = WORKLOAD_SUBJECT, the
//              client workload's `resource-set:<set id>:client-workload:<id>`);
// - s3:        the SigV4-verifying fake S3, accepting exactly the keys this STS issued. STS keys
//              are random, and a fake S3 takes its keys when it starts, so the S3 port is a
//              forwarder to a fake S3 started with STS's issued keys (restarted, objects kept,
//              whenever STS has issued new ones). Before any issuance it accepts no key at all.
//
// gcp (env CLOUD_URL, IMPERSONABLE, GCS_OBJECTS):
// - google:    Google STS (RFC 8693 exchange verifying the cloud's JWT against its JWKS) and
//              IAM Credentials generateAccessToken, behind a recording forwarder that notes
//              every access token they hand out;
// - gcs:       `GET /storage/v1/b/<bucket>/o/<object>?alt=media`, answering only requests whose
//              bearer is exactly a service-account token that IAM Credentials issued.
// (cloud-gcp.test.ts runs the GCP metadata fake in the test's own process; the docs' walks use the
// gcp-metadata mode below.)
//
// azure (env CLOUD_URL, TENANT_ID, APP_CLIENT_ID, WORKLOAD_SUBJECT, IDENTITY, FOREIGN_IDENTITY,
// BLOBS), loading the providers' fakes through provider-source-hooks.mjs:
// - imds:        Azure IMDS handing out RS256 managed-identity tokens of IDENTITY (JSON
//                {clientId, objectId, resourceId}) for the requested resource; it also serves
//                the tenant's Entra signing keys (jwksUri);
// - foreignImds: the same tenant and signing key, for FOREIGN_IDENTITY (another subscription);
// - entra:       Entra ID's token endpoint over TLS (its certificate is FAKE_ENTRA_CERT): a
//                client-credentials grant for APP_CLIENT_ID whose client assertion it verifies
//                against the cloud's JWKS (found through CLOUD_URL's discovery document), with
//                one federated credential: issuer CLOUD_URL, subject WORKLOAD_SUBJECT,
//                audience api://AzureADTokenExchange. Access tokens are random;
// - blob:        `GET /<container>/<blob>` of BLOBS (JSON {"<container>/<blob>": text}),
//                answering only a bearer that is exactly an access token this Entra issued, with
//                an `x-ms-version` of 2017-11-09 or later (as Azure Storage for bearer tokens).
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';

const mode = process.argv[2];
const env = process.env;

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function sendJson(response, status, body) {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(body));
}

async function aws() {
  const { createIidSigner, startFakeImds } = await import('../../../packages/providers/test/support/fake-ec2-imds.ts');
  const { startFakeSts } = await import('../../../packages/providers/test/support/fake-sts.ts');
  const { startFakeS3 } = await import('../../../packages/sdk/test/support/fake-s3.ts');

  const signer = createIidSigner();
  const document = {
    accountId: '123456789012',
    architecture: 'x86_64',
    availabilityZone: 'eu-west-1b',
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    imageId: 'ami-0abcdef1234567890',
    instanceId: 'i-0e2e0c10d0a0b0c0d',
    instanceType: 'm5.large',
    kernelId: null,
    pendingTime: new Date(Date.now() - 5_000).toISOString().replace(/\.\d+Z$/, 'Z'),
    privateIp: '10.0.1.23',
    ramdiskId: null,
    region: 'eu-west-1',
    version: '2017-09-30',
  };
  const imds = await startFakeImds({ signer, document, signingTime: new Date() });
  const staleSignedAt = new Date(Date.now() - 3 * 24 * 3600_000);
  const staleImds = await startFakeImds({ signer, document: { ...document, pendingTime: staleSignedAt.toISOString().replace(/\.\d+Z$/, 'Z') }, signingTime: staleSignedAt });

  const sts = await startFakeSts({
    roles: [
      {
        roleArn: env.ROLE_ARN,
        issuer: env.CLOUD_URL,
        audiences: ['sts.amazonaws.com'],
        jwksUri: `${env.CLOUD_URL}/.well-known/jwks.json`,
        subjects: [env.WORKLOAD_SUBJECT],
        maxSessionDurationSeconds: 3600,
      },
    ],
  });

  // The fake S3 behind a stable port, always holding exactly the keys STS has issued.
  let s3;
  let s3KeyCount = -1;
  const retired = [];
  let switching = Promise.resolve();
  const currentS3 = () =>
    (switching = switching.then(async () => {
      if (s3 !== undefined && s3KeyCount === sts.issued.size) return s3;
      const credentials = [...sts.issued.values()].map(({ accessKeyId, secretAccessKey, sessionToken }) => ({ accessKeyId, secretAccessKey, sessionToken }));
      const next = await startFakeS3({ credentials, region: 'us-east-1' });
      if (s3 !== undefined) {
        for (const [id, bytes] of s3.objects) next.objects.set(id, bytes);
        retired.push(s3);
      }
      s3 = next;
      s3KeyCount = credentials.length;
      return s3;
    }));
  const s3Front = createTcpServer((socket) => {
    socket.pause();
    currentS3().then(
      (target) => {
        const upstream = connect(target.port, '127.0.0.1', () => {
          socket.pipe(upstream);
          upstream.pipe(socket);
          socket.resume();
        });
        upstream.on('error', () => socket.destroy());
        socket.on('error', () => upstream.destroy());
        socket.on('close', () => upstream.destroy());
        upstream.on('close', () => socket.destroy());
      },
      () => socket.destroy(),
    );
  });
  const s3Port = await listen(s3Front);

  const control = createServer((request, response) => {
    const all = [...retired, ...(s3 === undefined ? [] : [s3])];
    sendJson(response, 200, {
      imdsRequests: imds.requests.map((r) => ({ method: r.method, url: r.url, status: r.status })),
      staleImdsRequests: staleImds.requests.map((r) => ({ method: r.method, url: r.url, status: r.status })),
      sts: sts.requests.map((r) => ({
        action: r.action,
        status: r.status,
        error: r.error,
        roleArn: r.params.RoleArn,
        roleSessionName: r.params.RoleSessionName,
        durationSeconds: r.params.DurationSeconds,
        webIdentityToken: r.params.WebIdentityToken,
        claims: r.claims,
      })),
      // A test double: it shows what it issued, so the test can look for leaks.
      issued: [...sts.issued.values()].map(({ accessKeyId, secretAccessKey, sessionToken, expiration, sessionName }) => ({ accessKeyId, secretAccessKey, sessionToken, expiration, sessionName })),
      s3: all.flatMap((instance) =>
        instance.requests.map((r) => ({
          method: r.method,
          path: r.path,
          verified: r.verified,
          error: r.error,
          accessKeyId: /Credential=([^/,\s]+)\//.exec(String(r.headers.authorization ?? ''))?.[1],
          sessionToken: r.headers['x-amz-security-token'],
        })),
      ),
      s3Objects: Object.fromEntries([...(s3?.objects ?? new Map())].map(([id, bytes]) => [id, bytes.toString()])),
    });
  });
  const controlPort = await listen(control);
  return {
    imds: imds.endpoint,
    staleImds: staleImds.endpoint,
    staleSignedAt: staleSignedAt.toISOString(),
    certificatePem: signer.certificatePem,
    sts: sts.url,
    s3: `http://127.0.0.1:${s3Port}`,
    s3Port,
    control: `http://127.0.0.1:${controlPort}`,
  };
}

async function gcp() {
  const { startFakeGoogle, FAKE_POOL_PROVIDER_AUDIENCE } = await import('../../../packages/providers/test/support/fake-google-sts.ts');
  const google = await startFakeGoogle({
    issuer: env.CLOUD_URL,
    jwksUri: `${env.CLOUD_URL}/.well-known/jwks.json`,
    impersonable: JSON.parse(env.IMPERSONABLE ?? '[]'),
  });

  // What Google handed out, seen on the wire: federated tokens (STS) and service-account tokens.
  const federatedTokens = [];
  const serviceAccountTokens = [];
  const front = createServer(async (request, response) => {
    try {
      const body = await readBody(request);
      const headers = { ...request.headers };
      delete headers.host;
      delete headers.connection;
      delete headers['content-length'];
      delete headers['transfer-encoding'];
      const answer = await fetch(`${google.origin}${request.url}`, {
        method: request.method,
        headers,
        ...(body.length > 0 ? { body } : {}),
      });
      const text = await answer.text();
      if (answer.ok) {
        try {
          const json = JSON.parse(text);
          if (typeof json.access_token === 'string') federatedTokens.push(json.access_token);
          if (typeof json.accessToken === 'string') serviceAccountTokens.push(json.accessToken);
        } catch {
          // not JSON: nothing issued
        }
      }
      response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
      response.end(text);
    } catch {
      response.writeHead(502);
      response.end();
    }
  });
  const googlePort = await listen(front);
  const googleOrigin = `http://127.0.0.1:${googlePort}`;

  const objects = new Map(Object.entries(JSON.parse(env.GCS_OBJECTS ?? '{}')));
  const gcsRequests = [];
  const gcs = createServer(async (request, response) => {
    await readBody(request);
    const url = new URL(request.url ?? '/', 'http://gcs.test');
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const authorized = bearer !== undefined && serviceAccountTokens.includes(bearer);
    gcsRequests.push({
      method: request.method,
      url: request.url,
      authorized,
      bearer,
      authorizationHeaders: request.rawHeaders.filter((_, i, all) => i % 2 === 1 && all[i - 1].toLowerCase() === 'authorization').length,
    });
    if (!authorized) {
      return sendJson(response, 401, { error: { code: 401, message: 'Invalid Credentials', errors: [{ reason: 'authError', domain: 'global' }] } });
    }
    const match = /^\/storage\/v1\/b\/([^/]+)\/o\/([^/]+)$/.exec(url.pathname);
    if (request.method !== 'GET' || match === null || url.searchParams.get('alt') !== 'media') {
      return sendJson(response, 400, { error: { code: 400, message: 'only GET /storage/v1/b/<bucket>/o/<object>?alt=media is faked' } });
    }
    const id = `${decodeURIComponent(match[1])}/${decodeURIComponent(match[2])}`;
    if (!objects.has(id)) return sendJson(response, 404, { error: { code: 404, message: `No such object: ${id}` } });
    response.writeHead(200, { 'content-type': 'text/csv' });
    response.end(objects.get(id));
  });
  const gcsPort = await listen(gcs);

  const control = createServer((request, response) =>
    sendJson(response, 200, {
      googleRequests: google.requests,
      sts: google.stsRequests.map((r) => ({ form: Object.fromEntries(r.form), header: r.header, claims: r.claims })),
      iam: google.iamRequests,
      federatedTokens,
      serviceAccountTokens,
      gcs: gcsRequests,
    }),
  );
  const controlPort = await listen(control);
  return {
    google: googleOrigin,
    tokenUrl: `${googleOrigin}/v1/token`,
    poolProviderAudience: FAKE_POOL_PROVIDER_AUDIENCE,
    gcs: `http://127.0.0.1:${gcsPort}`,
    gcsPort,
    control: `http://127.0.0.1:${controlPort}`,
  };
}

async function azure() {
  await import('./provider-source-hooks.mjs');
  const { createTestKey } = await import('../../../packages/providers/test/support/jwt-fixtures.ts');
  const { startFakeImds } = await import('../../../packages/providers/test/support/fake-azure-imds.ts');
  const { startFakeEntra } = await import('../../../packages/providers/test/support/fake-entra.ts');

  const tenantId = env.TENANT_ID;
  const key = await createTestKey('entra-e2e-key', 'RS256');
  const imds = await startFakeImds({ tenantId, key, systemAssigned: JSON.parse(env.IDENTITY), now: () => new Date() });
  const foreignImds = await startFakeImds({ tenantId, key, systemAssigned: JSON.parse(env.FOREIGN_IDENTITY), now: () => new Date() });

  const entra = await startFakeEntra({
    tenantId,
    apps: [
      {
        clientId: env.APP_CLIENT_ID,
        federatedIdentityCredentials: [{ issuer: env.CLOUD_URL, subject: env.WORKLOAD_SUBJECT, audiences: ['api://AzureADTokenExchange'] }],
      },
    ],
  });
  // Random access tokens (the fake's default ones are numbered), noted as they are issued.
  const accessTokens = [];
  entra.responder = () => {
    const token = `eyJ0eXAiOiJKV1QifQ.${randomBytes(24).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
    accessTokens.push(token);
    return { status: 200, body: { token_type: 'Bearer', expires_in: entra.expiresIn, ext_expires_in: entra.expiresIn, access_token: token } };
  };

  const blobs = new Map(Object.entries(JSON.parse(env.BLOBS ?? '{}')));
  const blobRequests = [];
  const storageError = (response, status, code, message, headers = {}) => {
    response.writeHead(status, { 'content-type': 'application/xml', 'x-ms-error-code': code, ...headers });
    response.end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
    return status;
  };
  const blob = createServer(async (request, response) => {
    await readBody(request);
    const authorization = request.headers.authorization;
    const bearer = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    const version = request.headers['x-ms-version'];
    const authorized = bearer !== undefined && accessTokens.includes(bearer);
    const answer = () => {
      if (authorization === undefined) {
        return storageError(response, 401, 'NoAuthenticationInformation', 'Server failed to authenticate the request. Please refer to the information in the www-authenticate header.', {
          'www-authenticate': `Bearer authorization_uri=https://login.microsoftonline.com/${tenantId}/oauth2/authorize resource_id=https://storage.azure.com`,
        });
      }
      // Bearer tokens need a service version of 2017-11-09 or later.
      if (typeof version !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(version) || version < '2017-11-09') {
        return storageError(response, 403, 'AuthenticationFailed', 'Authentication scheme Bearer is not supported in this version.');
      }
      if (!authorized) return storageError(response, 401, 'InvalidAuthenticationInfo', 'Server failed to authenticate the request.');
      const path = new URL(request.url ?? '/', 'http://blob.test').pathname;
      const match = /^\/([^/]+)\/(.+)$/.exec(path);
      if (request.method !== 'GET' || match === null) return storageError(response, 400, 'UnsupportedHttpVerb', 'only GET /<container>/<blob> is faked');
      const id = `${decodeURIComponent(match[1])}/${decodeURIComponent(match[2])}`;
      if (!blobs.has(id)) return storageError(response, 404, 'BlobNotFound', 'The specified blob does not exist.');
      response.writeHead(200, { 'content-type': 'text/csv', 'x-ms-blob-type': 'BlockBlob', 'x-ms-version': version });
      response.end(blobs.get(id));
      return 200;
    };
    const status = answer();
    blobRequests.push({
      method: request.method,
      url: request.url,
      status,
      authorized,
      bearer,
      xMsVersion: version,
      authorizationHeaders: request.rawHeaders.filter((_, i, all) => i % 2 === 1 && all[i - 1].toLowerCase() === 'authorization').length,
    });
  });
  const blobPort = await listen(blob);

  const imdsLog = (fake) => fake.server.requests.map((r) => ({ method: r.method, url: r.url, metadata: r.headers.metadata }));
  const control = createServer((request, response) =>
    sendJson(response, 200, {
      imdsRequests: imdsLog(imds),
      foreignImdsRequests: imdsLog(foreignImds),
      entraRequests: entra.requests.map((r) => ({ method: r.method, url: r.url })),
      tokenRequests: entra.requests.filter((r) => r.form !== undefined).map((r) => ({ url: r.url, form: Object.fromEntries(r.form) })),
      verified: entra.verified.map((v) => ({ clientId: v.clientId, scope: v.scope, header: v.assertion.header, claims: v.assertion.payload })),
      // A test double: it shows what it issued, so the test can look for leaks.
      accessTokens,
      blob: blobRequests,
    }),
  );
  const controlPort = await listen(control);
  return {
    imds: imds.origin,
    foreignImds: foreignImds.origin,
    jwksUri: imds.jwksUri,
    entra: entra.origin,
    blob: `http://127.0.0.1:${blobPort}`,
    blobPort,
    control: `http://127.0.0.1:${controlPort}`,
  };
}

// gcp-metadata (env METADATA_PORT, optional): a Compute Engine VM's metadata server minting
// identity tokens of billing-vm@acme-prod.iam.gserviceaccount.com, and Google's certs endpoint
// (jwksUri) with the key that signs them. With METADATA_PORT, the server is also reachable on
// that fixed port (for a page that names one).
async function gcpMetadata() {
  await import('./provider-source-hooks.mjs');
  const { startFakeMetadata } = await import('../../../packages/providers/test/support/fake-gcp-metadata.ts');
  const metadata = await startFakeMetadata();
  let origin = metadata.origin;
  if (env.METADATA_PORT) {
    const port = Number(new URL(metadata.origin).port);
    const front = createTcpServer((socket) => {
      const upstream = connect(port, '127.0.0.1', () => {
        socket.pipe(upstream);
        upstream.pipe(socket);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    await new Promise((resolve, reject) => {
      front.once('error', reject);
      front.listen(Number(env.METADATA_PORT), '127.0.0.1', resolve);
    });
    origin = `http://127.0.0.1:${env.METADATA_PORT}`;
  }
  return { metadata: origin, jwksUri: metadata.jwksUri };
}

const modes = { aws, gcp, azure, 'gcp-metadata': gcpMetadata };
const started = await modes[mode]?.();
if (started === undefined) {
  process.stderr.write(`usage: cloud-fakes.mjs aws|gcp|azure|gcp-metadata (got ${mode})\n`);
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(started)}\n`);

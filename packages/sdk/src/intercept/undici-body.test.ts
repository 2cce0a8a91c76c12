import { Readable } from 'node:stream';
import { FormData } from 'undici';
import { describe, expect, it } from 'vitest';
import type { Injection } from '../inject/types.js';
import type { Grant } from '../runtime/gate.js';
import { StaticGate } from '../../test/support/static-gate.js';
import { MAX_REPLAYED_BODY, MAX_SIGNED_BODY } from './body-limits.js';
import { prepareBody } from './undici-body.js';

function grant(injection: Injection): Grant {
  const gate = new StaticGate({ kind: 'aws', accessKeyId: 'AKIABODYUNIT', secretAccessKey: 'secret' });
  gate.manage(443, injection);
  return gate.tryAdmit({ scheme: 'https', host: 'example.com', port: 443, path: '/', method: 'PUT' })!;
}

const lambda = grant({ kind: 'aws-sigv4', region: 'eu-west-1', service: 'lambda' });
const s3 = grant({ kind: 'aws-sigv4', region: 'eu-west-1', service: 's3' });
const bearer = grant({ kind: 'header', name: 'authorization' });
const opts = (body: unknown, headers: Record<string, string> = {}) => ({ origin: 'https://example.com', path: '/', method: 'PUT', headers, body }) as never;

async function bytesOf(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

describe('prepareBody', () => {
  it("keeps the caller's string or bytes as they are, replayable", async () => {
    const body = Buffer.alloc(MAX_SIGNED_BODY + 1);
    const prepared = await prepareBody(opts(body), lambda, 'https');
    expect(prepared.opts.body).toBe(body);
    expect(prepared.replayable).toBe(true);
  });

  it('reads a stream of known length up to the limit, and keeps it for a retry', async () => {
    const prepared = await prepareBody(opts(Readable.from([Buffer.from('ab'), 'cd']), { 'content-length': '4' }), bearer, 'https');
    expect(prepared.opts.body).toEqual(Buffer.from('abcd'));
    expect(prepared.replayable).toBe(true);
  });

  it('leaves a stream of known length over the replay limit alone when nothing needs its hash', async () => {
    const body = Readable.from([Buffer.alloc(10)]);
    const prepared = await prepareBody(opts(body, { 'content-length': String(MAX_REPLAYED_BODY + 1) }), bearer, 'https');
    expect(prepared.opts.body).toBe(body);
    expect(prepared.replayable).toBe(false);
  });

  it('loses nothing of a stream longer than its content-length: it is sent whole, and undici refuses the mismatch', async () => {
    const prepared = await prepareBody(opts(Readable.from([Buffer.from('abc'), Buffer.from('def'), Buffer.from('ghi')]), { 'content-length': '4' }), bearer, 'https');
    expect(prepared.replayable).toBe(false);
    expect((await bytesOf(prepared.opts.body)).toString()).toBe('abcdefghi');
  });

  it('SigV4 to S3 over https: a stream of unknown length is left to be signed UNSIGNED-PAYLOAD', async () => {
    const body = Readable.from([Buffer.from('x')]);
    const prepared = await prepareBody(opts(body), s3, 'https');
    expect(prepared.opts.body).toBe(body);
  });

  it('SigV4 elsewhere: a stream of unknown length over the limit is refused and let go of (a file stream closes)', async () => {
    const body = Readable.from((function* () {
      for (let i = 0; i < 9; i++) yield Buffer.alloc(1024 * 1024);
    })());
    await expect(prepareBody(opts(body), lambda, 'https')).rejects.toMatchObject({ code: 'body_not_signable', injection: 'aws-sigv4' });
    expect(body.destroyed).toBe(true);
    // The same over plain http to S3; a declared length over the limit is refused before any read.
    const declared = Readable.from([Buffer.from('x')]);
    await expect(prepareBody(opts(declared, { 'content-length': String(MAX_SIGNED_BODY + 1) }), s3, 'http')).rejects.toMatchObject({ code: 'body_not_signable' });
    expect(declared.destroyed).toBe(true);
  });

  it("SigV4 with the client's own x-amz-content-sha256: the body is not read for a hash", async () => {
    const body = Readable.from([Buffer.alloc(10)]);
    const prepared = await prepareBody(opts(body, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }), lambda, 'http');
    expect(prepared.opts.body).toBe(body);
  });

  it('reads a Blob within the limit; leaves undici FormData (not bytes) alone', async () => {
    const blob = await prepareBody(opts(new Blob(['blob body'])), lambda, 'https');
    expect(blob.opts.body).toEqual(Buffer.from('blob body'));
    const form = new FormData();
    form.set('a', '1');
    const prepared = await prepareBody(opts(form, { 'content-length': '100' }), bearer, 'https');
    expect(prepared.opts.body).toBe(form);
    expect(prepared.replayable).toBe(false);
  });
});

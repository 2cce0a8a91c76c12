// A client workload as a user writes one: plain fetch, axios and the AWS S3 client, with no
// credential anywhere in its code or environment. It is started with
// `node --import @tessera/sdk/register` and driven by the test over IPC, one call per message.
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import axios from 'axios';

/** The S3 client will not send without keys of its own; Tessera replaces their signature. */
const placeholders = { accessKeyId: 'placeholder', secretAccessKey: 'placeholder' };

function describeError(error) {
  const cause = error?.cause;
  return {
    name: error?.name,
    code: typeof error?.code === 'string' ? error.code : undefined,
    message: String(error?.message ?? error),
    causeName: cause?.name,
    causeCode: typeof cause?.code === 'string' ? cause.code : undefined,
  };
}

const calls = {
  async fetch({ url, method = 'GET', body, headers }) {
    const response = await fetch(url, { method, headers, ...(body === undefined ? {} : { body: Buffer.from(body, 'base64') }) });
    return { status: response.status, body: await response.text() };
  },
  async axios({ url }) {
    const response = await axios.get(url, { validateStatus: () => true });
    return { status: response.status, body: JSON.stringify(response.data) };
  },
  async s3Put({ endpoint, bucket, key, text }) {
    const s3 = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: placeholders });
    const answer = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text }));
    return { status: answer.$metadata.httpStatusCode, body: '' };
  },
  async s3Get({ endpoint, bucket, key }) {
    const s3 = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: placeholders });
    const answer = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { status: answer.$metadata.httpStatusCode, body: await answer.Body.transformToString() };
  },
};

process.on('message', async (message) => {
  const { id, op, args } = message;
  try {
    const result = await calls[op](args);
    process.send({ id, ok: true, ...result });
  } catch (error) {
    process.send({ id, ok: false, error: describeError(error) });
  }
});

process.send({ ready: true });

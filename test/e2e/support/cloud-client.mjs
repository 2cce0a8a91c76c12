// A client workload on a cloud VM, as a user writes one: the AWS S3 client and plain fetch,
// with no credential of any kind in its code or environment. Its environment holds PATH,
// TESSERA_CLOUD_URL, the collector selection and metadata endpoint, and STORAGE_URL (the fake
// storage API). It is started with `node --import @tessera/sdk/register` and driven by the test
// over IPC, one call per message.
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

const STORAGE_URL = process.env.STORAGE_URL;

/** The S3 client will not send without keys of its own; Tessera replaces their signature. */
const placeholders = { accessKeyId: 'placeholder', secretAccessKey: 'placeholder' };
const s3 = () => new S3Client({ region: 'us-east-1', endpoint: STORAGE_URL, forcePathStyle: true, credentials: placeholders, maxAttempts: 1 });

/** The error and its causes, outermost first: names, codes and messages only. */
function describeError(error) {
  const chain = [];
  for (let current = error; current !== undefined && current !== null && chain.length < 6; current = current.cause) {
    chain.push({
      name: current.name,
      code: typeof current.code === 'string' ? current.code : undefined,
      message: String(current.message ?? current),
      status: current.$metadata?.httpStatusCode,
    });
  }
  return chain;
}

const calls = {
  async s3Put({ bucket, key, text }) {
    const answer = await s3().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text }));
    return { status: answer.$metadata.httpStatusCode, body: '' };
  },
  async s3Get({ bucket, key }) {
    const answer = await s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { status: answer.$metadata.httpStatusCode, body: await answer.Body.transformToString() };
  },
  async fetch({ path }) {
    const response = await fetch(`${STORAGE_URL}${path}`);
    return { status: response.status, body: await response.text() };
  },
};

process.on('message', async (message) => {
  const { id, op, args } = message;
  try {
    const result = await calls[op](args);
    process.send({ id, ok: true, ...result });
  } catch (error) {
    process.send({ id, ok: false, errors: describeError(error) });
  }
});

process.send({ ready: true });

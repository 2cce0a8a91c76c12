// A client workload on an Azure VM, as a user writes one (docs/cloud-azure.md, "On the
// workload"): a plain fetch of a blob with the `x-ms-version` Azure Storage needs for bearer
// tokens, and no credential of any kind in its code or environment. Its environment holds PATH,
// TESSERA_CLOUD_URL, TESSERA_COLLECTORS, TESSERA_AZURE_RESOURCE, TESSERA_AZURE_IMDS_ENDPOINT and
// STORAGE_URL (the fake Blob API). Started with `node --import @tessera/sdk/register` by
// startScriptClient (azure-e2e.ts) and driven over IPC like cloud-client.mjs, whose replies and
// error chains it shares.
const STORAGE_URL = process.env.STORAGE_URL;

/** The error and its causes, outermost first: names, codes and messages only. */
function describeError(error) {
  const chain = [];
  for (let current = error; current !== undefined && current !== null && chain.length < 6; current = current.cause) {
    chain.push({ name: current.name, code: typeof current.code === 'string' ? current.code : undefined, message: String(current.message ?? current) });
  }
  return chain;
}

const calls = {
  async download({ path }) {
    const response = await fetch(`${STORAGE_URL}${path}`, { headers: { 'x-ms-version': '2023-11-03' } });
    return { status: response.status, body: await response.text() };
  },
};

process.on('message', async (message) => {
  const { id, op, args } = message;
  try {
    process.send({ id, ok: true, ...(await calls[op](args)) });
  } catch (error) {
    process.send({ id, ok: false, errors: describeError(error) });
  }
});

process.send({ ready: true });

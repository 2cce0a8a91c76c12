// A client workload, written as if Tessera did not exist: it calls the APIs with plain fetch
// and holds no secret. Started with `node --import @tessera/sdk/register`, which reads
// TESSERA_CLOUD_URL and the projected token file (TESSERA_KUBERNETES_TOKEN_FILE).
// `GET /call/<api>` makes one call and answers what happened. Env: PAYMENTS_URL, REPORTS_URL.
import { createServer } from 'node:http';

const apis = { payments: `${process.env.PAYMENTS_URL}/v1/charges`, reports: `${process.env.REPORTS_URL}/v1/reports/daily` };

const server = createServer(async (req, res) => {
  const api = /^\/call\/(\w+)$/.exec(req.url ?? '')?.[1];
  const url = apis[api];
  let answer;
  if (url === undefined) {
    answer = { error: `unknown API; try ${Object.keys(apis).map((name) => `/call/${name}`).join(' or ')}` };
  } else {
    try {
      const response = await fetch(url);
      answer = { url, status: response.status, body: await response.json() };
    } catch (error) {
      // fetch reports every failure below it as TypeError('fetch failed'); Tessera's reason is the cause.
      const cause = error.cause ?? error;
      answer = { url, refused: { error: cause.name, code: cause.code, message: cause.message } };
    }
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(answer)}\n`);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`));

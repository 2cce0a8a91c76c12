// The "payments API": a protected server workload that accepts only its API key. The key is
// configured here and in Tessera's credential provider — never in any client.
// Env: PAYMENTS_API_KEY. Prints `{ "url": ... }` when ready.
import { timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const expected = Buffer.from(`Bearer ${process.env.PAYMENTS_API_KEY}`);
const server = createServer((req, res) => {
  const got = Buffer.from(req.headers.authorization ?? '');
  const valid = got.length === expected.length && timingSafeEqual(got, expected);
  res.writeHead(valid ? 200 : 401, { 'content-type': 'application/json' });
  res.end(JSON.stringify(valid ? { charges: [{ id: 'ch_1', amount: 4200, currency: 'EUR' }] } : { error: 'a valid API key is required' }));
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`));

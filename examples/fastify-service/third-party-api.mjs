// Stands in for a third-party market-data API (in real life a vendor's HTTPS API). It answers
// only requests that carry `Authorization: Bearer <its API key>`. The key is known here (the
// vendor's side) and in Tessera's api-key credential provider — never in the quote service.
//
//   GET /v1/quotes/:symbol     a delayed quote
//   GET /v1/realtime/:symbol   a real-time quote
//
// Env: MARKET_DATA_API_KEY, PORT (default 4000). Prints `{"url": ...}` when ready, then one JSON
// line per request it receives (never the key).
import { timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const expected = Buffer.from(`Bearer ${process.env.MARKET_DATA_API_KEY}`);
const authorized = (header = '') => {
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected);
};

const server = createServer((req, res) => {
  const [, feed, symbol] = /^\/v1\/(quotes|realtime)\/([A-Za-z0-9.]{1,12})$/.exec(req.url ?? '') ?? [];
  const ok = authorized(req.headers.authorization);
  process.stdout.write(`${JSON.stringify({ method: req.method, path: req.url, authorized: ok })}\n`);
  res.setHeader('content-type', 'application/json');
  if (!ok) return res.writeHead(401).end(JSON.stringify({ error: 'a valid API key is required' }));
  if (!feed) return res.writeHead(404).end(JSON.stringify({ error: 'no such quote' }));
  const cents = [...symbol.toUpperCase()].reduce((sum, c) => sum * 31 + c.charCodeAt(0), 7) % 90_000;
  res.end(JSON.stringify({ symbol: symbol.toUpperCase(), price: (10_000 + cents) / 100, currency: 'USD', delayedMinutes: feed === 'quotes' ? 15 : 0 }));
});
server.listen(Number(process.env.PORT ?? 4000), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`);
});

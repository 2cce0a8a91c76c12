// A Fastify service that answers stock quotes by calling a third-party market-data API with
// plain fetch. It holds no API key: started with `node --import @tessera/sdk/register`, Tessera
// proves the service's identity to the control plane and puts the vendor's key on requests to
// the API on their way out. Requests to any other host are left alone.
//
//   GET /quote/:symbol                 a delayed quote
//   GET /quote/:symbol?feed=realtime   a real-time quote (Tessera allows it in market hours only)
//
// Env: MARKET_DATA_URL (default http://127.0.0.1:4000), PORT (default 3000), and the SDK's
// TESSERA_* variables. Prints `{"url": ...}` when ready.
import Fastify from 'fastify';
import { shutdown, TesseraAccessDeniedError, TesseraUnavailableError } from '@tessera/sdk';

const MARKET_DATA_URL = process.env.MARKET_DATA_URL ?? 'http://127.0.0.1:4000';
const PATHS = { delayed: 'quotes', realtime: 'realtime' };

const app = Fastify({ logger: { level: 'warn' } });

app.get('/quote/:symbol', {
  schema: {
    params: { type: 'object', properties: { symbol: { type: 'string', pattern: '^[A-Za-z0-9.]{1,12}$' } } },
    querystring: { type: 'object', properties: { feed: { enum: ['delayed', 'realtime'], default: 'delayed' } } },
  },
}, async (request, reply) => {
  const { symbol } = request.params;
  const { feed } = request.query;
  let response;
  try {
    response = await fetch(`${MARKET_DATA_URL}/v1/${PATHS[feed]}/${symbol}`);
  } catch (error) {
    // fetch rejects with TypeError('fetch failed'); the reason Tessera refused is its `cause`.
    // A refused request was never sent: answer with this service's own error.
    if (error.cause instanceof TesseraAccessDeniedError) {
      request.log.warn({ reason: error.cause.code, feed }, 'market data refused by Tessera');
      return reply.code(403).send({ error: 'feed_not_available', feed, reason: error.cause.code });
    }
    if (error.cause instanceof TesseraUnavailableError) {
      return reply.code(503).header('retry-after', '5').send({ error: 'market_data_unavailable', feed });
    }
    throw error; // anything else: Fastify answers 500
  }
  if (!response.ok) return reply.code(502).send({ error: 'market_data_error', status: response.status });
  return { ...(await response.json()), feed };
});

await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${app.server.address().port}` })}\n`);

// On SIGTERM/SIGINT: stop taking requests, then let Tessera send the request outcomes it still
// holds (the register hook does that by itself only when the process ends on its own).
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, async () => {
    await app.close();
    await shutdown();
    process.exit(0);
  });
}

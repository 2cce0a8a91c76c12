// An AWS Lambda-style handler that fetches a stock quote from the market-data API with plain
// fetch, and holds no API key. `withTessera` starts Tessera at the instance's first invocation,
// configured only by the TESSERA_* environment variables, attests once per instance (at its
// first outgoing request, not at cold start), injects the
// credential the control plane hands out, and sends each invocation's request outcomes to the
// control plane before the handler's promise settles — a frozen instance loses none.
//
// Env: MARKET_DATA_URL (default http://127.0.0.1:4000); TESSERA_CLOUD_URL and the evidence,
// here TESSERA_OIDC_TOKEN_FILE.
import { withTessera, TesseraAccessDeniedError } from '@tessera/sdk';

const MARKET_DATA_URL = process.env.MARKET_DATA_URL ?? 'http://127.0.0.1:4000';

export const handler = withTessera(async (event, context) => {
  try {
    const response = await fetch(`${MARKET_DATA_URL}/v1/quotes/${encodeURIComponent(event.symbol)}`);
    return { statusCode: response.status, body: await response.text() };
  } catch (error) {
    // A request Tessera refused was never sent; its reason is the fetch error's cause.
    if (error.cause instanceof TesseraAccessDeniedError) {
      return { statusCode: 403, body: JSON.stringify({ error: 'quote_not_allowed', reason: error.cause.code, requestId: context.awsRequestId }) };
    }
    throw error;
  }
});

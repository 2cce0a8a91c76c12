// A workload's own code: one plain fetch to the inventory API. No password, token or key
// anywhere in the code or the environment; Tessera puts a leased password on the request.
// Env: INVENTORY_URL (e.g. http://127.0.0.1:8202). Exits 1 when the call did not succeed.
const url = new URL('/v1/items', process.env.INVENTORY_URL);

try {
  const response = await fetch(url);
  process.stdout.write(`${response.status} ${await response.text()}\n`);
  if (!response.ok) process.exitCode = 1;
} catch (error) {
  // A request Tessera refused was never sent. fetch rejects with a TypeError whose cause is the
  // Tessera error (a TesseraUnavailableError's own cause says what could not be reached).
  const chain = [];
  for (let reason = error.cause; reason !== undefined && chain.length < 3; reason = reason.cause) {
    chain.push(`${reason.name} ${reason.code ?? ''}: ${reason.message}`);
  }
  process.stdout.write(`refused: ${chain.join('\n  caused by ') || error.message}\n`);
  process.exitCode = 1;
}

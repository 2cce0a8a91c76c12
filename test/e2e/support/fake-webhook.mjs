// A log-stream webhook receiver, run as its own process so a test can SIGKILL it.
// Usage: node fake-webhook.mjs <port> <record-file> <expected authorization>
// Appends one line per received event id to <record-file> (before answering, so a kill between
// the two shows up as a duplicate, never as a loss) and prints "listening <port>".
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [port, recordFile, authorization] = process.argv.slice(2);

const server = createServer((request, response) => {
  if (request.method !== 'POST' || request.headers.authorization !== authorization) {
    response.writeHead(401).end();
    return;
  }
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    try {
      const { events } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      appendFileSync(recordFile, events.map((event) => `${event.id} ${event.resourceSetId}\n`).join(''));
      response.writeHead(204).end();
    } catch {
      response.writeHead(400).end();
    }
  });
});
server.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

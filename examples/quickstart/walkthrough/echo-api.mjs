// Walkthrough helper: a stand-in protected API on 127.0.0.1:9090 that answers with the
// Authorization header it received, so you can see what the SDK placed on the request.
import { createServer } from 'node:http';

createServer((req, res) => {
  res.end(`authorization: ${req.headers.authorization ?? '(none)'}\n`);
}).listen(9090, '127.0.0.1', () => console.log('echo API on http://127.0.0.1:9090'));

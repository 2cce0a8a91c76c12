// A forward proxy on loopback for the docs walks, like the corporate proxies the troubleshooting
// page talks about: it opens CONNECT tunnels (what Node's NODE_USE_ENV_PROXY and undici's proxy
// agents ask for) and forwards plain-HTTP requests in absolute form, printing one line for each.
import { createServer, request as forward } from 'node:http';
import { connect } from 'node:net';

const port = Number(process.env.PROXY_PORT ?? 3128);
createServer((request, response) => {
  console.log(`proxy: ${request.method} ${request.url}`);
  if (!/^http:\/\//.test(request.url ?? '')) return void response.writeHead(400).end('absolute-form http:// requests only\n');
  const upstream = forward(request.url, { method: request.method, headers: request.headers }, (answer) => {
    response.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(response);
  });
  upstream.on('error', () => response.destroy());
  request.pipe(upstream);
})
  .on('connect', (request, client, head) => {
    console.log(`proxy: CONNECT ${request.url}`);
    const colon = request.url.lastIndexOf(':');
    const upstream = connect(Number(request.url.slice(colon + 1)), request.url.slice(0, colon), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  })
  .listen(port, '127.0.0.1', () => console.log(`proxy on http://127.0.0.1:${port}`));

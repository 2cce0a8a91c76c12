// A forward proxy on loopback for the docs walks, like the corporate proxies the troubleshooting
// page talks about: it opens CONNECT tunnels (what Node's NODE_USE_ENV_PROXY and undici's
// EnvHttpProxyAgent ask for), refuses anything else, and prints one line per tunnel.
import { createServer } from 'node:http';
import { connect } from 'node:net';

const port = Number(process.env.PROXY_PORT ?? 3128);
createServer((request, response) => {
  response.writeHead(405, { 'content-type': 'text/plain' }).end('CONNECT only\n');
})
  .on('connect', (request, client, head) => {
    console.log(`proxy: CONNECT ${request.url}`);
    const [host, targetPort] = [request.url.slice(0, request.url.lastIndexOf(':')), Number(request.url.slice(request.url.lastIndexOf(':') + 1))];
    const upstream = connect(targetPort, host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).on('error', () => {});
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  })
  .listen(port, '127.0.0.1', () => console.log(`proxy on http://127.0.0.1:${port}`));

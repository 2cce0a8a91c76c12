/**
 * Test support (never imported by product code): HTTP/2 servers on loopback that record every
 * stream they receive — headers in wire order, body bytes — and a TCP relay that records the
 * exact bytes a client sends, for byte-for-byte comparisons of unmanaged traffic.
 */
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { TEST_CERT, TEST_KEY } from './tls.js';

export interface ReceivedStream {
  /** Names and values as they arrived, pseudo-headers first. */
  rawHeaders: string[];
  body: Buffer;
}

export interface Http2Target {
  readonly url: string;
  readonly port: number;
  readonly streams: ReceivedStream[];
  /** HTTP/2 sessions (connections) accepted. */
  sessions: number;
  close(): Promise<void>;
}

/**
 * Answers every stream `200` with `ok <path>` (`401` for paths starting `/401`) once its body
 * has arrived; `tls` serves `https` with `TEST_CERT`.
 */
export async function startHttp2Target(options: { tls?: boolean } = {}): Promise<Http2Target> {
  const streams: ReceivedStream[] = [];
  const server = options.tls ? http2.createSecureServer({ cert: TEST_CERT, key: TEST_KEY }) : http2.createServer();
  const target: Http2Target = { url: '', port: 0, streams, sessions: 0, close: async () => {} };
  const open = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    target.sessions += 1;
    open.add(session);
    session.on('close', () => open.delete(session));
  });
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      streams.push({ rawHeaders: [...rawHeaders], body: Buffer.concat(chunks) });
      const path = String(headers[':path'] ?? '');
      if (stream.destroyed) return;
      stream.respond({ ':status': path.startsWith('/401') ? 401 : 200, 'content-type': 'text/plain' });
      stream.end(`ok ${path}`);
    });
    stream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(target, {
    port,
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: async () => {
      for (const session of open) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

/** The values of one header in a received stream, name compared without case. */
export function streamHeader(stream: ReceivedStream, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < stream.rawHeaders.length; i += 2) if (stream.rawHeaders[i]!.toLowerCase() === name) values.push(stream.rawHeaders[i + 1]!);
  return values;
}

export interface ByteRecorder {
  /** Connect clients here; everything is relayed to the target. */
  readonly port: number;
  /** The bytes each client connection sent, in order. */
  readonly sent: Buffer[][];
  close(): Promise<void>;
}

/** A TCP relay in front of `targetPort` that keeps every byte clients send. */
export async function startByteRecorder(targetPort: number): Promise<ByteRecorder> {
  const sent: Buffer[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const chunks: Buffer[] = [];
    sent.push(chunks);
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sent,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

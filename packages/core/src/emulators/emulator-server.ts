import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { text } from 'node:stream/consumers';

/** A request an emulator answers over HTTP/1.1, or over HTTP/2 through the compatibility API. */
export type EmulatorHttpRequest = IncomingMessage | Http2ServerRequest;
export type EmulatorHttpResponse = ServerResponse | Http2ServerResponse;

interface ServerOptionsBase<Req, Res> {
  /** Answers one request in the emulated wire protocol. */
  handle(req: Req, res: Res): Promise<void>;
  /** Where a failed `handle` is noted (`emulator error: ...`), with the emulator's other problems. */
  problems: string[];
  /** Answers a request whose `handle` failed before it sent anything, in the protocol's error shape. */
  fail(res: Res): void;
}

/** An HTTP/1.1 emulator, over TLS if given a certificate. */
export interface EmulatorServerOptions extends ServerOptionsBase<IncomingMessage, ServerResponse> {
  /** Serve https with this certificate (PEM): its URL then names `localhost`, which the certificate does. */
  tls?: { key: string; cert: string } | undefined;
  h2c?: false;
}

/** An emulator that speaks HTTP/2 cleartext as well as HTTP/1.1 on its one port (as the AWS SDK does). */
export interface DualEmulatorServerOptions
  extends ServerOptionsBase<EmulatorHttpRequest, EmulatorHttpResponse> {
  h2c: true;
}

export interface EmulatorServer {
  /** `http://127.0.0.1:<port>`, or `https://localhost:<port>` with TLS. */
  readonly url: string;
  readonly port: number;
  /** Drops every open connection and stops listening. */
  close(): Promise<void>;
}

/**
 * The HTTP side every wire emulator shares: a server on 127.0.0.1 and a free port, over plain
 * HTTP, TLS, or HTTP/1.1 and HTTP/2 cleartext at once; a failing handler noted as a problem and
 * answered; a close that does not wait for clients' idle connections.
 *
 * @example
 * const server = await startEmulatorServer({ problems, fail: (res) => sendJson(res, 500, { error: 'emulator error' }),
 *   handle: async (req, res) => { await sendJson(res, 200, { ok: true }); } });
 */
export function startEmulatorServer(options: EmulatorServerOptions): Promise<EmulatorServer>;
export function startEmulatorServer(options: DualEmulatorServerOptions): Promise<EmulatorServer>;
export async function startEmulatorServer(
  options: EmulatorServerOptions | DualEmulatorServerOptions,
): Promise<EmulatorServer> {
  // Each overload's handler gets the request kinds its server makes.
  const answer = options as ServerOptionsBase<EmulatorHttpRequest, EmulatorHttpResponse>;
  const listener = (req: EmulatorHttpRequest, res: EmulatorHttpResponse) => {
    answer.handle(req, res).catch((error: unknown) => {
      answer.problems.push(`emulator error: ${String(error)}`);
      if (!res.headersSent) answer.fail(res);
      else res.end();
    });
  };
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  let server: Server;
  if (options.h2c) {
    const http1 = createHttp1Server(listener);
    const http2 = createHttp2Server(listener);
    // One port for both: an HTTP/2 connection opens with its preface ("PRI * HTTP/2.0").
    server = createNetServer((socket) => {
      track(socket);
      socket.once('data', (first) => {
        socket.pause();
        if (first.subarray(0, 3).toString('latin1') === 'PRI') {
          http2.emit('connection', replaying(socket, first));
        } else {
          socket.unshift(first);
          http1.emit('connection', socket);
          socket.resume();
        }
      });
    });
  } else {
    const tls = options.tls;
    server = tls
      ? createHttpsServer({ key: tls.key, cert: tls.cert }, listener)
      : createHttp1Server(listener);
    server.on('connection', track);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: !options.h2c && options.tls ? `https://localhost:${port}` : `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const socket of sockets) socket.destroy();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A request's whole body as JSON; not JSON (or empty) comes back as the text received. */
export async function readJsonBody(
  req: EmulatorHttpRequest,
): Promise<{ ok: true; json: unknown } | { ok: false; raw: string }> {
  const raw = await text(req);
  try {
    return { ok: true, json: JSON.parse(raw) as unknown };
  } catch {
    return { ok: false, raw };
  }
}

/** Answers with a JSON body (`content-type: application/json` unless `headers` says otherwise). */
export function sendJson(
  res: EmulatorHttpResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<void> {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  return new Promise((resolve) => res.end(JSON.stringify(body), () => resolve()));
}

/** A duplex that replays the bytes already read from the socket, then the socket (the HTTP/2 server reads through it). */
function replaying(socket: Socket, first: Buffer): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, encoding, callback) {
      socket.write(chunk, encoding, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  duplex.push(first);
  socket.on('data', (chunk) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('error', (error) => duplex.destroy(error));
  socket.on('close', () => duplex.destroy());
  return duplex;
}

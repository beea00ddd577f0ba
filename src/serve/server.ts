// `oci-tool serve`: a distribution-spec v1.1 endpoint (node:http) over an OCI image layout, so
// that registry clients can pull from it; with `push`, they can push into it too.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describeError, OciToolError } from '../errors.js';
import { Lease } from '../image/lease.js';
import { Layout } from '../image/layout.js';
import { LayoutContent } from './content.js';
import { API_VERSION_HEADER, RegistryError, sendError } from './http.js';
import { parseRoute, ReadRoutes, type Route } from './routes.js';
import { PushRoutes } from './upload.js';

export interface ServeOptions {
  /** The layout directory (it must exist unless `push` is set), or an opened Layout. */
  layout: string | Layout;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 5000); 0 picks a free one, see LayoutServer.port. */
  port?: number;
  /** Accept blob uploads and manifest PUTs (default: read-only, writes answer 405). */
  push?: boolean;
  /** Told of every request once answered, and of problems found in the layout. */
  onEvent?: (event: ServeEvent) => void;
}

export type ServeEvent =
  | { type: 'request'; method: string; path: string; status: number; bytes: number; durationMs: number; aborted: boolean }
  | { type: 'problem'; message: string };

export interface LayoutServer {
  readonly layout: Layout;
  /** host:port as an image reference names it ("127.0.0.1:5000", "[::1]:5000"). */
  readonly address: string;
  readonly port: number;
  /** http://address */
  readonly url: string;
  /** Stops listening, cuts open connections and drops unfinished uploads. */
  close(): Promise<void>;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export async function serveLayout(options: ServeOptions): Promise<LayoutServer> {
  const layout = typeof options.layout === 'string' ? await Layout.open(options.layout, { create: options.push === true }) : options.layout;
  const emit = options.onEvent ?? (() => {});
  const problem = (message: string) => emit({ type: 'problem', message });
  const content = new LayoutContent(layout, problem);
  const push = options.push ? new PushRoutes(layout, content) : undefined;
  // Uploads arrive before the manifest that names them: a lease keeps gc from taking them meanwhile.
  const lease = options.push ? await Lease.begin(layout) : undefined;
  const read = new ReadRoutes(content, (d) => push?.storedSize(d), problem);

  const dispatch = async (req: IncomingMessage, res: ServerResponse, route: Route, query: URLSearchParams): Promise<void> => {
    const method = req.method ?? 'GET';
    const reading = method === 'GET' || method === 'HEAD';
    if (!reading && WRITES.has(method) && !push && route.kind !== 'base') {
      throw new RegistryError(405, 'UNSUPPORTED', 'this server is read-only (serve with push enabled to accept uploads)');
    }
    const refuse = (allow: string) => new RegistryError(405, 'UNSUPPORTED', `${method} is not supported here`, { allow });
    switch (route.kind) {
      case 'base':
        if (!reading) throw refuse('GET, HEAD');
        return read.base(res);
      case 'catalog':
        if (!reading) throw refuse('GET, HEAD');
        return read.catalog(res, query);
      case 'tags':
        if (!reading) throw refuse('GET, HEAD');
        return read.tags(res, route.name, query);
      case 'referrers':
        if (!reading) throw refuse('GET, HEAD');
        return read.referrers(res, route.digest, query);
      case 'manifest':
        if (reading) return read.manifest(res, route.name, route.reference);
        if (method === 'PUT' && push) return push.manifest(req, res, route.name, route.reference);
        throw refuse(push ? 'GET, HEAD, PUT' : 'GET, HEAD');
      case 'blob':
        if (reading) return read.blob(req, res, route.digest);
        throw refuse('GET, HEAD');
      case 'uploads':
        if (method === 'POST' && push) return push.start(req, res, route.name, query);
        throw refuse('POST');
      case 'upload':
        if (push && ['GET', 'PATCH', 'PUT', 'DELETE'].includes(method)) return push.session(req, res, route.name, route.id, query);
        throw refuse('GET, PATCH, PUT, DELETE');
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    for (const [k, v] of Object.entries(API_VERSION_HEADER)) res.setHeader(k, v);
    // The raw path: never percent-decoded or dot-segment-normalized, so grammars see what was sent.
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    try {
      const route = parseRoute(path);
      if (!route) throw new RegistryError(404, 'UNSUPPORTED', 'no such endpoint');
      await dispatch(req, res, route, query);
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
      } else if (e instanceof RegistryError) {
        sendError(res, e.status, e.code, e.message, e.headers, e.detail);
      } else {
        problem(`${req.method ?? ''} ${path}: ${describeError(e)}`);
        sendError(res, 500, 'UNKNOWN', describeError(e));
      }
    }
  };

  const server = createServer({ requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
    const started = performance.now();
    res.on('close', () => {
      const length = Number(res.getHeader('content-length') ?? 0);
      emit({
        type: 'request', method: req.method ?? '', path: req.url ?? '', status: res.statusCode,
        bytes: req.method === 'HEAD' ? 0 : length, durationMs: Math.round(performance.now() - started), aborted: !res.writableFinished,
      });
    });
    void handle(req, res);
  });

  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'address already in use' : e.code === 'EACCES' ? 'permission denied' : e.message;
      reject(new OciToolError('OCI_ERR_USAGE', `cannot listen on ${formatAddress(host, port)}: ${why}`));
    });
    server.listen({ host, port }, () => resolve());
  });
  const info = server.address() as AddressInfo;
  const address = formatAddress(info.address, info.port);
  let closing: Promise<void> | undefined;
  return {
    layout, address, port: info.port, url: `http://${address}`,
    close: () => (closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await push?.close();
      await lease?.release();
    })()),
  };
}

const formatAddress = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

// In-process reverse proxy that injects faults between a registry client and a real upstream.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { status: number; headers?: Record<string, string>; body?: string }
  | { resetAfterBytes: number } // headers + N body bytes, then the socket is destroyed
  | { corrupt: true } // one body byte flipped, length unchanged
  | { delayMs: number } // then forwarded normally
  | { redirectTo: string } // 307 to an absolute URL
  | { truncateAfterBytes: number }; // Content-Length dropped, body ends cleanly after N bytes

export interface ProxiedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  at: number; // Date.now() on arrival, for timing assertions (e.g. Retry-After)
}

export type Decide = (req: ProxiedRequest, n: number) => Fault | undefined;

export interface FaultProxy {
  url: string;
  host: string;
  requests: ProxiedRequest[];
  setDecide(fn: Decide | undefined): void;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<{ url: string; host: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: `http://${host}`, host };
}

function closer(server: Server): () => Promise<void> {
  return () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

function record(req: IncomingMessage): ProxiedRequest {
  return { method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...req.headers }, at: Date.now() };
}

export async function startFaultProxy(upstream: string, decide?: Decide): Promise<FaultProxy> {
  const base = new URL(upstream);
  const prefix = base.pathname.replace(/\/$/, '');
  const requests: ProxiedRequest[] = [];
  const counts = new Map<string, number>();
  let current = decide;
  let self = '';

  const forward = (req: IncomingMessage, res: ServerResponse, fault: Fault | undefined) => {
    const up = httpRequest({
      host: base.hostname, port: base.port || 80, method: req.method, path: prefix + (req.url ?? '/'),
      headers: { ...req.headers, host: base.host },
    }, (upRes) => {
      const headers = { ...upRes.headers };
      // Registries build absolute upload URLs from Host; keep the client talking to the proxy.
      if (typeof headers.location === 'string' && headers.location.startsWith(base.origin)) {
        headers.location = self + headers.location.slice(base.origin.length);
      }
      let limit = Infinity;
      if (fault && 'truncateAfterBytes' in fault) { limit = fault.truncateAfterBytes; delete headers['content-length']; }
      if (fault && 'resetAfterBytes' in fault) limit = fault.resetAfterBytes;
      let flip = Boolean(fault && 'corrupt' in fault);
      let sent = 0;
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, headers);
      res.flushHeaders();
      const stop = () => {
        upRes.destroy();
        if (fault && 'resetAfterBytes' in fault) res.socket?.destroy();
        else res.end();
      };
      if (limit === 0) return void res.write('', stop);
      upRes.on('data', (chunk: Buffer) => {
        if (sent >= limit) return;
        if (flip && chunk.length > 0) { chunk = Buffer.from(chunk); chunk[0] = (chunk[0] ?? 0) ^ 0xff; flip = false; }
        const part = chunk.subarray(0, Math.max(0, limit - sent));
        sent += part.length;
        const more = res.write(part, sent >= limit ? stop : undefined);
        if (sent >= limit) return;
        if (!more) { upRes.pause(); res.once('drain', () => upRes.resume()); }
      });
      upRes.on('end', () => { if (sent < limit) res.end(); });
      upRes.on('error', () => res.destroy());
    });
    up.on('error', (err) => {
      if (!res.headersSent) { res.writeHead(502, { 'content-type': 'text/plain' }); res.end(`proxy: ${err.message}`); }
      else res.destroy();
    });
    res.on('close', () => up.destroy());
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    const rec = record(req);
    requests.push(rec);
    const key = `${rec.method} ${rec.path}`;
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    const fault = current?.(rec, n);
    if (fault && 'status' in fault) {
      req.resume();
      res.writeHead(fault.status, fault.headers).end(fault.body ?? '');
    } else if (fault && 'redirectTo' in fault) {
      req.resume();
      res.writeHead(307, { location: fault.redirectTo, 'content-length': '0' }).end();
    } else if (fault && 'delayMs' in fault) {
      setTimeout(() => forward(req, res, undefined), fault.delayMs);
    } else {
      forward(req, res, fault);
    }
  });
  const { url, host } = await listen(server);
  self = url;
  return { url, host, requests, setDecide: (fn) => { current = fn; }, close: closer(server) };
}

export interface BlobHost {
  url: string;
  host: string;
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

/** A separate origin serving `body` at every path (honouring `Range: bytes=N-`), recording requests. */
export async function startBlobHost(body: Uint8Array | string): Promise<BlobHost> {
  const bytes = Buffer.from(body);
  const requests: ProxiedRequest[] = [];
  const server = createServer((req, res) => {
    requests.push(record(req));
    req.resume();
    const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    const start = m ? Number(m[1]) : 0;
    if (start > bytes.length) return void res.writeHead(416).end();
    const part = bytes.subarray(start);
    res.writeHead(m ? 206 : 200, {
      'content-type': 'application/octet-stream', 'content-length': String(part.length),
      ...(m ? { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : part);
  });
  const { url, host } = await listen(server);
  return { url, host, requests, close: closer(server) };
}

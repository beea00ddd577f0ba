import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBlobHost, startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const DATA = randomBytes(200_000);
let upstream: Server;
let upstreamUrl: string;
const seenHosts: string[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    seenHosts.push(String(req.headers.host));
    if (req.url === '/data') return void res.writeHead(200, { 'content-length': String(DATA.length) }).end(DATA);
    if (req.url === '/upload') return void res.writeHead(202, { location: `${upstreamUrl}/upload/123?state=x` }).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString() })));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

let proxy: FaultProxy | undefined;
afterEach(async () => { await proxy?.close(); proxy = undefined; });

/** Reads a body chunk by chunk, so a failure still reports how many bytes arrived. */
async function readAll(res: Response): Promise<{ bytes: Buffer; error?: unknown }> {
  const chunks: Uint8Array[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
    return { bytes: Buffer.concat(chunks) };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

describe('fault proxy', () => {
  it('passes requests and bodies through, rewriting Host and upstream Locations', async () => {
    proxy = await startFaultProxy(upstreamUrl);
    const res = await fetch(`${proxy.url}/data`);
    expect(Buffer.from(await res.arrayBuffer()).equals(DATA)).toBe(true); // toEqual on big buffers is slow
    expect(seenHosts.at(-1)).toBe(new URL(upstreamUrl).host);
    const echo = await fetch(`${proxy.url}/echo?q=1`, { method: 'PUT', body: 'hello' });
    expect(await echo.json()).toEqual({ method: 'PUT', url: '/echo?q=1', body: 'hello' });
    const up = await fetch(`${proxy.url}/upload`, { method: 'POST' });
    expect(up.status).toBe(202);
    expect(up.headers.get('location')).toBe(`${proxy.url}/upload/123?state=x`);
  });

  it('records requests with their headers and counts repeats per method and path', async () => {
    const ns: number[] = [];
    proxy = await startFaultProxy(upstreamUrl, (req, n) => { if (req.path === '/data') ns.push(n); return undefined; });
    await (await fetch(`${proxy.url}/data`, { headers: { authorization: 'Bearer t0k', range: 'bytes=10-' } })).arrayBuffer();
    await (await fetch(`${proxy.url}/data`)).arrayBuffer();
    await (await fetch(`${proxy.url}/data`, { method: 'HEAD' })).arrayBuffer();
    expect(ns).toEqual([1, 2, 1]);
    expect(proxy.requests.map((r) => [r.method, r.path])).toEqual([['GET', '/data'], ['GET', '/data'], ['HEAD', '/data']]);
    expect(proxy.requests[0]?.headers).toMatchObject({ authorization: 'Bearer t0k', range: 'bytes=10-' });
    expect(proxy.requests[1]?.headers.authorization).toBeUndefined();
    expect(proxy.host).toBe(new URL(proxy.url).host);
  });

  it('answers with a fault status, headers and body, only when decide says so', async () => {
    proxy = await startFaultProxy(upstreamUrl, (_req, n) => (n === 1 ? { status: 429, headers: { 'retry-after': '1' }, body: 'slow' } : undefined));
    const first = await fetch(`${proxy.url}/data`);
    expect([first.status, first.headers.get('retry-after'), await first.text()]).toEqual([429, '1', 'slow']);
    expect((await fetch(`${proxy.url}/data`)).status).toBe(200);
    proxy.setDecide(() => ({ status: 503 }));
    expect((await fetch(`${proxy.url}/data`)).status).toBe(503);
  });

  it('drops the connection after N body bytes', async () => {
    proxy = await startFaultProxy(upstreamUrl, () => ({ resetAfterBytes: 70_001 }));
    const res = await fetch(`${proxy.url}/data`);
    expect(res.headers.get('content-length')).toBe(String(DATA.length));
    const { bytes, error } = await readAll(res);
    expect(error).toBeDefined();
    expect(bytes.length).toBe(70_001);
    expect(bytes.equals(DATA.subarray(0, 70_001))).toBe(true);
  });

  it('truncates a body cleanly, flips one byte, and delays', async () => {
    proxy = await startFaultProxy(upstreamUrl, () => ({ truncateAfterBytes: 1000 }));
    const cut = await readAll(await fetch(`${proxy.url}/data`));
    expect(cut.error).toBeUndefined();
    expect(cut.bytes.equals(DATA.subarray(0, 1000))).toBe(true);

    proxy.setDecide(() => ({ corrupt: true }));
    const bad = Buffer.from(await (await fetch(`${proxy.url}/data`)).arrayBuffer());
    expect(bad.length).toBe(DATA.length);
    expect(bad.reduce((d, b, i) => d + (b === DATA[i] ? 0 : 1), 0)).toBe(1);

    proxy.setDecide(() => ({ delayMs: 300 }));
    const t0 = Date.now();
    expect((await fetch(`${proxy.url}/data`)).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('redirects to another origin, where Authorization is not sent', async () => {
    const blobs = await startBlobHost('blob-bytes');
    try {
      proxy = await startFaultProxy(upstreamUrl, (req) => (req.path === '/data' ? { redirectTo: `${blobs.url}/s/x?sig=1` } : undefined));
      const manual = await fetch(`${proxy.url}/data`, { redirect: 'manual' });
      expect([manual.status, manual.headers.get('location')]).toEqual([307, `${blobs.url}/s/x?sig=1`]);
      const followed = await fetch(`${proxy.url}/data`, { headers: { authorization: 'Basic eDp5' } });
      expect(await followed.text()).toBe('blob-bytes');
      expect(proxy.requests.at(-1)?.headers.authorization).toBe('Basic eDp5');
      expect(blobs.requests.map((r) => [r.path, r.headers.authorization])).toEqual([['/s/x?sig=1', undefined]]);
      const ranged = await fetch(`${blobs.url}/any`, { headers: { range: 'bytes=5-' } });
      expect([ranged.status, await ranged.text()]).toEqual([206, 'bytes']);
      expect(blobs.host).not.toBe(proxy.host);
    } finally {
      await blobs.close();
    }
  });
});

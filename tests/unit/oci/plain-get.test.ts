// plainGet against real local servers: each body framing (Content-Length, chunked with sizes and
// CRLFs split across packets, end of connection), a connection cut mid-body, a refused status,
// and a consumer that throws.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainGet } from '../../../oci/plain-get.js';

const body = randomBytes(3 * 1024 * 1024 + 17);

function collect(url: string, accept = (s: number) => s === 200, headers: Record<string, string> = {}) {
  const parts: Buffer[] = [];
  // onBody's buffer is reused after it returns: keep copies.
  return plainGet(new URL(url), { headers, accept, onBody: (c) => parts.push(Buffer.from(c)) }, 'test get').then((r) => ({ ...r, bytes: Buffer.concat(parts) }));
}

describe('plainGet', () => {
  let server: http.Server;
  let raw: net.Server;
  let base = '';
  let rawBase = '';
  const seen: http.IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    server = http.createServer(async (req, res) => {
      seen.push(req.headers);
      if (req.url === '/length') {
        res.writeHead(200, { 'content-length': body.length }).end(body);
      } else if (req.url === '/chunked') {
        res.writeHead(200);
        for (let at = 0; at < body.length; at += 100_003) {
          res.write(body.subarray(at, at + 100_003));
          if (at % 700_021 < 100_003) await sleep(1);
        }
        res.end();
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-length': body.length });
        res.write(body.subarray(0, 1024 * 1024), () => res.socket?.destroy());
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
      }
    });
    // Hand-written responses: chunk framing split at awkward places, and a body ended by close.
    raw = net.createServer((socket) => {
      socket.once('data', async (request) => {
        if (request.toString().startsWith('GET /split')) {
          const pieces = ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', '5', '\r\nhel', 'lo\r', '\n6;ext=1\r\n world\r', '\n', '0\r\n\r\n'];
          for (const p of pieces) {
            socket.write(p);
            await sleep(5);
          }
          socket.end();
        } else {
          socket.end(Buffer.concat([Buffer.from('HTTP/1.0 200 OK\r\n\r\n'), body.subarray(0, 5000)]));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    rawBase = `http://127.0.0.1:${(raw.address() as net.AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await new Promise((r) => raw.close(r));
  });

  it('reads a Content-Length body whole and sends the given headers', async () => {
    const r = await collect(`${base}/length`, undefined, { authorization: 'Bearer t', range: 'bytes=0-' });
    expect(r).toMatchObject({ status: 200, accepted: true, complete: true });
    expect(r.bytes.equals(body)).toBe(true);
    expect(seen.at(-1)).toMatchObject({ authorization: 'Bearer t', range: 'bytes=0-', connection: 'close' });
  });

  it('decodes chunked bodies, also with sizes, extensions and CRLFs split across packets', async () => {
    const r = await collect(`${base}/chunked`);
    expect(r.complete).toBe(true);
    expect(r.bytes.equals(body)).toBe(true);
    const split = await collect(`${rawBase}/split`);
    expect(split.complete).toBe(true);
    expect(split.bytes.toString()).toBe('hello world');
  });

  it('takes a body without framing as ending with the connection', async () => {
    const r = await collect(`${rawBase}/close`);
    expect(r.complete).toBe(true);
    expect(r.bytes.equals(body.subarray(0, 5000))).toBe(true);
  });

  it('reports a cut connection as incomplete, with the bytes that did arrive', async () => {
    const r = await collect(`${base}/cut`);
    expect(r.accepted).toBe(true);
    expect(r.complete).toBe(false);
    expect(r.error?.message).toMatch(/closed mid-body|ECONNRESET/);
    expect(r.bytes.equals(body.subarray(0, r.bytes.length))).toBe(true);
    expect(r.bytes.length).toBeLessThan(body.length);
  });

  it('delivers nothing for a status it was not asked for', async () => {
    const r = await collect(`${base}/missing`);
    expect(r).toMatchObject({ status: 404, accepted: false, complete: false });
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.bytes.length).toBe(0);
  });

  it('stops with the consumer error when the consumer throws, and fails clearly when nobody listens', async () => {
    const onBody = () => {
      throw new Error('disk full');
    };
    await expect(plainGet(new URL(`${base}/length`), { headers: {}, accept: () => true, onBody }, 'test get')).rejects.toThrow('disk full');
    const closed = await new Promise<number>((r) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => r(port));
      });
    });
    await expect(collect(`http://127.0.0.1:${closed}/x`)).rejects.toThrow(/GET http:\/\/127\.0\.0\.1:\d+\/x: ECONNREFUSED/);
    await expect(plainGet(new URL('https://127.0.0.1/x'), { headers: {}, accept: () => true, onBody }, 'test get')).rejects.toThrow(/needs an http: URL/);
  });
});

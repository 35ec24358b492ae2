// A lean HTTP/1.1 GET over a plain TCP socket, for large blob bodies. node:http allocates a new
// buffer for every socket read and copies every body piece again; on loopback that costs about
// three times the transfer itself. Here the socket reads into one reused buffer (net `onread`)
// and body bytes go to a synchronous consumer, which must use them before it returns.
// Anything but the expected status is left to the full client (auth, redirects, error bodies).
import type { IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { WbpfError } from '../host-bindings/errors.js';

const READ_BUFFER_BYTES = 256 * 1024;
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE = 1024;

export interface PlainGetResult {
  status: number;
  headers: IncomingHttpHeaders;
  /** False when the status was not accepted: no body byte was delivered. */
  accepted: boolean;
  /** True when the whole body arrived; false when the connection ended or failed first. */
  complete: boolean;
  /** Why an accepted body stopped early. */
  error?: Error;
}

export interface PlainGetOptions {
  headers: Record<string, string>;
  /** Statuses whose body is wanted; for any other the connection is dropped unread. */
  accept: (status: number, headers: IncomingHttpHeaders) => boolean;
  /** Receives body bytes; the buffer is reused after it returns. Throwing aborts the transfer. */
  onBody: (chunk: Buffer) => void;
  idleTimeoutMs?: number;
}

function parseHead(head: string, what: string): { status: number; headers: IncomingHttpHeaders } {
  const lines = head.split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!statusLine) throw new WbpfError(`${what}: malformed HTTP status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new WbpfError(`${what}: malformed HTTP header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(statusLine[1]), headers };
}

/** Decodes a body framed by Content-Length, chunked encoding, or the connection's end. */
class BodyDecoder {
  private left: number;
  private chunkLine = '';
  private state: 'size' | 'data' | 'crlf' | 'done' = 'size';
  private crlfLeft = 0;

  constructor(
    private readonly mode: 'length' | 'chunked' | 'close',
    length: number,
    private readonly onBody: (chunk: Buffer) => void,
    private readonly what: string,
  ) {
    this.left = length;
    if (mode === 'length' && length === 0) this.state = 'done';
  }

  get done(): boolean {
    return this.state === 'done';
  }

  /** The connection ended: that is the body's end only when nothing else framed it. */
  ended(): void {
    if (this.mode === 'close') this.state = 'done';
  }

  feed(piece: Buffer): void {
    if (this.mode === 'close') {
      if (piece.length) this.onBody(piece);
      return;
    }
    if (this.mode === 'length') {
      if (this.state === 'done') return;
      const n = Math.min(this.left, piece.length);
      if (n > 0) this.onBody(n === piece.length ? piece : piece.subarray(0, n));
      this.left -= n;
      if (this.left === 0) this.state = 'done';
      return;
    }
    let at = 0;
    while (at < piece.length && this.state !== 'done') {
      if (this.state === 'size') {
        const nl = piece.indexOf(10, at);
        const end = nl < 0 ? piece.length : nl;
        this.chunkLine += piece.toString('latin1', at, end);
        if (this.chunkLine.length > MAX_CHUNK_LINE) throw new WbpfError(`${this.what}: chunk size line too long`);
        at = end;
        if (nl < 0) break;
        at++;
        const hex = /^([0-9a-fA-F]+)(?:;.*)?\r?$/.exec(this.chunkLine);
        if (!hex) throw new WbpfError(`${this.what}: malformed chunk size ${JSON.stringify(this.chunkLine.slice(0, 40))}`);
        this.chunkLine = '';
        this.left = parseInt(hex[1]!, 16);
        if (this.left === 0) this.state = 'done';
        else this.state = 'data';
      } else if (this.state === 'data') {
        const n = Math.min(this.left, piece.length - at);
        this.onBody(piece.subarray(at, at + n));
        at += n;
        this.left -= n;
        if (this.left === 0) {
          this.state = 'crlf';
          this.crlfLeft = 2;
        }
      } else {
        const n = Math.min(this.crlfLeft, piece.length - at);
        at += n;
        this.crlfLeft -= n;
        if (this.crlfLeft === 0) this.state = 'size';
      }
    }
  }
}

/** GETs an http: URL on a connection of its own (closed afterwards), streaming the body to onBody. */
export function plainGet(url: URL, options: PlainGetOptions, what: string): Promise<PlainGetResult> {
  if (url.protocol !== 'http:') return Promise.reject(new WbpfError(`${what}: plainGet needs an http: URL, got ${url.protocol}`));
  const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'User-Agent: wbpf', 'Connection: close'];
  for (const [name, value] of Object.entries(options.headers)) lines.push(`${name}: ${value}`);
  const request = lines.join('\r\n') + '\r\n\r\n';

  return new Promise((resolve, reject) => {
    let head: Buffer | undefined = Buffer.alloc(0);
    let result: PlainGetResult | undefined;
    let decoder: BodyDecoder | undefined;
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (!result) {
        reject(new WbpfError(`GET ${url.origin}${url.pathname}: ${error?.message ?? 'connection closed before a response'}`, { cause: error }));
        return;
      }
      result.complete = !!decoder?.done;
      if (!result.complete && error) result.error = error;
      resolve(result);
    };
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(error);
    };

    const onData = (piece: Buffer): void => {
      if (decoder) {
        decoder.feed(piece);
        return;
      }
      head = Buffer.concat([head!, piece]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD_BYTES) throw new WbpfError(`${what}: response head exceeds ${MAX_HEAD_BYTES} bytes`);
        return;
      }
      const parsed = parseHead(head.toString('latin1', 0, end), what);
      const rest = head.subarray(end + 4);
      head = undefined;
      result = { ...parsed, accepted: options.accept(parsed.status, parsed.headers), complete: false };
      if (!result.accepted) {
        finish();
        return;
      }
      const te = String(parsed.headers['transfer-encoding'] ?? '').toLowerCase();
      const length = Number(parsed.headers['content-length']);
      const mode = te.includes('chunked') ? 'chunked' : parsed.headers['content-length'] !== undefined ? 'length' : 'close';
      if (mode === 'length' && !(Number.isSafeInteger(length) && length >= 0)) {
        throw new WbpfError(`${what}: bad Content-Length ${JSON.stringify(parsed.headers['content-length'])}`);
      }
      decoder = new BodyDecoder(mode, length, options.onBody, what);
      decoder.feed(rest);
    };

    const socket = net.connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 80),
      onread: {
        buffer,
        callback: (n: number, buf: Uint8Array): boolean => {
          if (settled) return false;
          try {
            onData((buf as Buffer).subarray(0, n));
          } catch (e) {
            fail(e);
            return false;
          }
          if (decoder?.done) finish();
          return !settled;
        },
      },
    });
    socket.setNoDelay(true);
    socket.setTimeout(options.idleTimeoutMs ?? 60_000, () => finish(new Error(`no data for ${options.idleTimeoutMs ?? 60_000} ms`)));
    socket.on('connect', () => socket.write(request));
    socket.on('error', (e: NodeJS.ErrnoException) => finish(new Error(`${e.code ? e.code + ': ' : ''}${e.message}`)));
    const closed = (): void => {
      decoder?.ended();
      finish(decoder && !decoder.done ? new Error('connection closed mid-body') : undefined);
    };
    socket.on('end', closed);
    socket.on('close', closed);
  });
}

/**
 * The body encoder the `compress` plugin installs on each GET/HEAD response (`res.setBodyEncoder`): when
 * the head is about to be written it decides from the response's fields (status, type, length, an
 * existing Content-Encoding, `no-transform`) and the request's `Accept-Encoding` whether and how to
 * encode, adjusts the fields, and encodes:
 *
 * - a whole body up to {@link SYNC_LIMIT} (`end(body)`: files below 64 KiB, what the content cache fills
 *   from): at once, sent with its Content-Length; the cache keeps the encoded bytes as the entry;
 * - a larger whole body: on the thread pool (`zlib.gzip(buf, cb)`), then sent with its Content-Length;
 * - a streamed body (proxied answers, large files): through a zlib stream, sent chunked.
 */

import type { Transform } from 'node:stream';
// The namespace, not named imports: zstd arrived in Node.js 22.15, and this module must load on older
// ones (where `[compress]` refuses "zstd", see options.ts).
import zlib from 'node:zlib';
import { encodingChoice } from '../../http/encoding-choice.ts';
import type { Coding, Negotiator } from '../../http/semantics/encoding.ts';
import type { BodyEncoder, BodyStream, EncodedOutput, Request, Response } from '../../http/types.ts';
import type { CompressOptions, TypeMatcher } from './options.ts';

/** Whole bodies up to this size are encoded synchronously (well under a millisecond at the defaults). */
export const SYNC_LIMIT = 64 * 1024;

/** What the encoder did, per worker (the plugin's `stats` control command). */
export interface CompressStats {
  /** Bodies encoded, per coding (synchronous, thread pool and streamed alike). */
  encoded: Record<Coding, number>;
  /** Bytes given to the encoders and bytes they produced. */
  bytesIn: number;
  bytesOut: number;
}

type Options = Record<Coding, object>;

/** zlib options per coding from the configured levels. */
function zlibOptions(level: CompressOptions['level']): Options {
  return {
    gzip: { level: level.gzip },
    br: { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: level.br } },
    // 100 is ZSTD_c_compressionLevel (a literal: older Node.js has no zstd constants).
    zstd: { params: { 100: level.zstd } },
  };
}

/** `Vary` with `Accept-Encoding` added (unless it is there already, or `*`). */
function addVary(res: Response): void {
  const vary = res.getHeader('vary');
  if (vary === undefined) {
    res.setHeader('Vary', 'Accept-Encoding');
    return;
  }
  const text = typeof vary === 'object' ? vary.join(', ') : String(vary);
  if (/(?:^|,)\s*(?:accept-encoding|\*)\s*(?:,|$)/i.test(text)) return;
  res.setHeader('Vary', text === '' ? 'Accept-Encoding' : `${text}, Accept-Encoding`);
}

/**
 * A 304 confirming an encoded variant the client holds (its `If-None-Match` names the weak tag) carries
 * that weak tag, as the 200 did, not the producer's strong one.
 */
function weakenRevalidated(req: Request, res: Response): void {
  const etag = res.getHeader('etag');
  if (typeof etag !== 'string' || etag.startsWith('W/')) return;
  const condition = req.headers.get('if-none-match');
  if (condition?.includes(`W/${etag}`)) res.setHeader('ETag', `W/${etag}`);
}

/** Whether a response with this status has a body worth encoding: 200 and error pages (not 206, 416). */
function encodableStatus(status: number): boolean {
  return status === 200 || (status >= 400 && status !== 416);
}

export class CompressEncoder implements BodyEncoder {
  readonly stats: CompressStats = { encoded: { zstd: 0, br: 0, gzip: 0 }, bytesIn: 0, bytesOut: 0 };
  private readonly negotiator: Negotiator;
  private readonly enabled: ReadonlySet<Coding>;
  private readonly types: TypeMatcher;
  private readonly minLength: number;
  private readonly proxied: boolean;
  private readonly zlib: Options;

  constructor(options: CompressOptions, negotiator: Negotiator, types: TypeMatcher) {
    this.negotiator = negotiator;
    this.enabled = new Set(options.encodings);
    this.types = types;
    this.minLength = options.min_length;
    this.proxied = options.proxied;
    this.zlib = zlibOptions(options.level);
  }

  start(
    req: Request,
    res: Response,
    whole: Buffer | null,
    output: EncodedOutput,
  ): Buffer | BodyStream | null {
    const status = res.statusCode;
    if (status === 304) {
      weakenRevalidated(req, res);
      return null;
    }
    if (!encodableStatus(status)) return null;
    // Never twice: a precompressed sibling or a backend's own encoding is sent as it is.
    if (res.hasHeader('content-encoding') || res.hasHeader('content-range')) return null;
    // A proxied answer: the route's `compress`, else `[compress] proxied`.
    if (res.upstreamAddress && !(encodingChoice(req) ?? this.proxied)) return null;
    const type = res.getHeader('content-type');
    if (typeof type !== 'string' || !this.types.matches(type)) return null;
    const cacheControl = res.getHeader('cache-control');
    // RFC 9110 §7.7: a response marked no-transform keeps its bytes.
    if (typeof cacheControl === 'string' && /no-transform/i.test(cacheControl)) return null;
    const length = whole !== null ? whole.length : Number(res.getHeader('content-length') ?? -1);
    if (length >= 0 && length < this.minLength) return null;
    // From here the answer depends on Accept-Encoding, whether or not this request gets an encoding.
    addVary(res);
    const coding = this.choose(req.headers.get('accept-encoding'));
    if (coding === undefined) return null;
    res.setHeader('Content-Encoding', coding);
    // nginx's choice: the encoded variant's ETag is weak (same content, other bytes), so a conditional
    // request with it still gets its 304 from the producer (If-None-Match compares weakly, RFC 9110 §13.1.2).
    const etag = res.getHeader('etag');
    if (typeof etag === 'string' && !etag.startsWith('W/')) res.setHeader('ETag', `W/${etag}`);
    res.removeHeader('Content-Length');
    // A range of the encoded bytes is not what a client asking for a range of the file wants.
    res.removeHeader('Accept-Ranges');
    if (req.method === 'HEAD') return null;
    this.stats.encoded[coding]++;
    if (whole !== null && whole.length <= SYNC_LIMIT) {
      const out = this.encodeSync(coding, whole);
      this.stats.bytesIn += whole.length;
      this.stats.bytesOut += out.length;
      return out;
    }
    if (whole !== null) return new WholeEncoding(this, coding, output, res);
    return new StreamEncoding(this, this.createStream(coding), output, res);
  }

  /** The best coding this request accepts among the enabled ones, or undefined. */
  private choose(acceptEncoding: string | undefined): Coding | undefined {
    for (const coding of this.negotiator.accepted(acceptEncoding).order) {
      if (this.enabled.has(coding)) return coding;
    }
    return undefined;
  }

  private encodeSync(coding: Coding, body: Buffer): Buffer {
    const options = this.zlib[coding];
    if (coding === 'gzip') return zlib.gzipSync(body, options);
    if (coding === 'br') return zlib.brotliCompressSync(body, options);
    return zlib.zstdCompressSync(body, options);
  }

  /** Encode `body` on the thread pool. */
  encodeAsync(coding: Coding, body: Buffer, done: (error: Error | null, out: Buffer) => void): void {
    const options = this.zlib[coding];
    if (coding === 'gzip') zlib.gzip(body, options, done);
    else if (coding === 'br') zlib.brotliCompress(body, options, done);
    else zlib.zstdCompress(body, options, done);
  }

  private createStream(coding: Coding): Transform {
    const options = this.zlib[coding];
    if (coding === 'gzip') return zlib.createGzip(options);
    if (coding === 'br') return zlib.createBrotliCompress(options);
    return zlib.createZstdCompress(options);
  }
}

/** A whole body above {@link SYNC_LIMIT}: encoded in one go on the thread pool, sent with its length. */
class WholeEncoding implements BodyStream {
  private readonly parts: Buffer[] = [];
  private readonly encoder: CompressEncoder;
  private readonly coding: Coding;
  private readonly output: EncodedOutput;
  private readonly res: Response;

  constructor(encoder: CompressEncoder, coding: Coding, output: EncodedOutput, res: Response) {
    this.encoder = encoder;
    this.coding = coding;
    this.output = output;
    this.res = res;
  }

  write(chunk: Buffer): boolean {
    this.parts.push(chunk);
    return true;
  }

  end(): void {
    const body = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.encoder.encodeAsync(this.coding, body, (error, out) => {
      if (this.res.aborted) return;
      if (error !== null) return this.output.fail();
      this.encoder.stats.bytesIn += body.length;
      this.encoder.stats.bytesOut += out.length;
      this.output.finish(out);
    });
  }

  onDrain(callback: () => void): void {
    process.nextTick(callback);
  }
}

/** A streamed body through a zlib stream; the socket's back-pressure pauses the encoder's output. */
class StreamEncoding implements BodyStream {
  private readonly zs: Transform;
  private readonly encoder: CompressEncoder;

  constructor(encoder: CompressEncoder, zs: Transform, output: EncodedOutput, res: Response) {
    this.encoder = encoder;
    this.zs = zs;
    zs.on('data', (chunk: Buffer) => {
      encoder.stats.bytesOut += chunk.length;
      if (!output.push(chunk)) {
        zs.pause();
        output.onDrain(() => zs.resume());
      }
    });
    zs.on('end', () => output.finish(null));
    zs.on('error', () => output.fail());
    res.onAbort(() => zs.destroy());
  }

  write(chunk: Buffer): boolean {
    this.encoder.stats.bytesIn += chunk.length;
    return this.zs.write(chunk);
  }

  end(): void {
    this.zs.end();
  }

  onDrain(callback: () => void): void {
    if (this.zs.writableNeedDrain) this.zs.once('drain', callback);
    else process.nextTick(callback);
  }
}

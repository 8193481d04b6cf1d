/**
 * Differential test: every byte string below goes through Node's own llhttp (a `node:http` server in strict
 * mode, over a real socket) and through our HttpParser. Both must agree on accept/reject and, when they
 * accept, on method, target, header fields, body and trailers of every message.
 *
 * Where we are deliberately stricter than llhttp, the case sits in STRICTER (we reject, llhttp accepts), each
 * with its reason. The opposite (we accept what llhttp rejects) is never allowed: that is the gap a
 * request-smuggling attack between Tamarin and a llhttp-based hop would use.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { HttpParseError } from '../src/http/parse-error.ts';
import { HttpParser } from '../src/http/parser.ts';
import type { HttpLimits } from '../src/http/types.ts';

/** Node's defaults where they exist (16 KiB head, like `--max-http-header-size`). */
const LIMITS: HttpLimits = {
  maxRequestLine: 8192,
  maxHeadSize: 16384,
  maxHeaders: 100,
  maxBodySize: 1 << 20,
};

interface Message {
  method: string;
  target: string;
  headers: string[];
  body: string;
  trailers: string[];
}
interface Outcome {
  messages: Message[];
  rejected: boolean;
  /**
   * llhttp took an upgrade request that announces a body as an upgrade. We parse it as a plain request
   * (RFC 9110 §7.8 lets a server ignore Upgrade; nginx does the same), so the two sides differ on purpose.
   */
  upgradeWithBody?: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// The corpus. `\r\n` is written out; each string is sent as latin1 bytes.
const H = 'Host: example.com\r\n';
const POST = 'POST /submit HTTP/1.1\r\n' + H;

/** Requests both parsers must accept, with identical results. */
const VALID: Record<string, string> = {
  'simple GET': 'GET / HTTP/1.1\r\n' + H + '\r\n',
  'GET with query': 'GET /search?q=tamarin&page=2 HTTP/1.1\r\n' + H + '\r\n',
  HEAD: 'HEAD /index.html HTTP/1.1\r\n' + H + '\r\n',
  'POST with Content-Length': POST + 'Content-Length: 11\r\n\r\nhello world',
  'POST with Content-Length: 0': POST + 'Content-Length: 0\r\n\r\n',
  'Content-Length with leading zeros': POST + 'Content-Length: 005\r\n\r\nhello',
  'Content-Length without space': POST + 'Content-Length:5\r\n\r\nhello',
  'Content-Length with trailing space': POST + 'Content-Length: 5 \r\n\r\nhello',
  'chunked, two chunks': POST + 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
  'chunked with trailers':
    POST + 'Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n',
  'chunked, extension token': POST + 'Transfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\n\r\n',
  'chunked, extension quoted':
    POST + 'Transfer-Encoding: chunked\r\n\r\n5;n="a \\"b\\" c"\r\nhello\r\n0\r\n\r\n',
  'chunked, extension name only':
    POST + 'Transfer-Encoding: chunked\r\n\r\n5;flag\r\nhello\r\n0;last\r\n\r\n',
  'chunked, several extensions':
    POST + 'Transfer-Encoding: chunked\r\n\r\n5;a=b;c;d="e"\r\nhello\r\n0\r\n\r\n',
  'chunked, hex sizes':
    POST + 'Transfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n',
  'chunked, leading zeros': POST + 'Transfer-Encoding: chunked\r\n\r\n0005\r\nhello\r\n000\r\n\r\n',
  'chunked, data looks like a last chunk':
    POST + 'Transfer-Encoding: chunked\r\n\r\n5\r\n0\r\n\r\n\r\n0\r\n\r\n',
  'chunked, upper-case coding': POST + 'Transfer-Encoding: Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
  'chunked, value with trailing space': POST + 'Transfer-Encoding: chunked \r\n\r\n2\r\nhi\r\n0\r\n\r\n',
  'chunked, tab before value': POST + 'Transfer-Encoding:\tchunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
  'chunked, no space before value': POST + 'Transfer-Encoding:chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
  'chunked, several spaces around value': POST + 'Transfer-Encoding:   chunked  \r\n\r\n2\r\nhi\r\n0\r\n\r\n',
  'Content-Length with tabs around': POST + 'Content-Length:\t5\t\r\n\r\nhello',
  'Connection: close with trailing tab': 'GET / HTTP/1.1\r\n' + H + 'Connection: close\t\r\n\r\n',
  'Host with trailing tab': 'GET / HTTP/1.1\r\nHost: example.com\t\r\n\r\n',
  'HTTP/1.0 without Host': 'GET / HTTP/1.0\r\n\r\n',
  'HTTP/1.0 keep-alive': 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n' + H + '\r\n',
  'HTTP/1.0 POST': 'POST /form HTTP/1.0\r\nContent-Length: 3\r\n\r\na=b',
  'OPTIONS *': 'OPTIONS * HTTP/1.1\r\n' + H + '\r\n',
  'absolute-form': 'GET http://example.com/a/b?c=d HTTP/1.1\r\n' + H + '\r\n',
  'absolute-form https with port': 'GET https://example.com:8443/x HTTP/1.1\r\n' + H + '\r\n',
  'absolute-form without path': 'GET http://example.com HTTP/1.1\r\n' + H + '\r\n',
  'absolute-form with query only': 'GET http://example.com?x=1 HTTP/1.1\r\n' + H + '\r\n',
  'twenty header fields':
    'GET / HTTP/1.1\r\n' +
    H +
    Array.from({ length: 20 }, (_, i) => `X-Field-${i}: value ${i}\r\n`).join('') +
    '\r\n',
  'empty header value': 'GET / HTTP/1.1\r\n' + H + 'X-Empty:\r\n\r\n',
  'header value of only spaces': 'GET / HTTP/1.1\r\n' + H + 'X-Blank:    \r\n\r\n',
  'inner tabs and spaces kept': 'GET / HTTP/1.1\r\n' + H + 'X-Inner: a \t b  c\r\n\r\n',
  'obs-text in value': 'GET / HTTP/1.1\r\n' + H + 'X-Latin: caf\xe9 \x80\xff\r\n\r\n',
  'trailing whitespace trimmed': 'GET / HTTP/1.1\r\n' + H + 'X-Trail: v \t \r\n\r\n',
  'every tchar in a name': 'GET / HTTP/1.1\r\n' + H + "X!#$%&'*+-.^_`|~9: ok\r\n\r\n",
  'mixed-case names': 'GET / HTTP/1.1\r\nhOsT: example.com\r\nCONTENT-type: text/plain\r\n\r\n',
  'pipelined GETs':
    'GET /1 HTTP/1.1\r\n' + H + '\r\nGET /2 HTTP/1.1\r\n' + H + '\r\nGET /3 HTTP/1.1\r\n' + H + '\r\n',
  'pipelined POST then GET': POST + 'Content-Length: 4\r\n\r\nbodyGET /after HTTP/1.1\r\n' + H + '\r\n',
  'pipelined chunked then GET':
    POST + 'Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /next HTTP/1.1\r\n' + H + '\r\n',
  'leading CRLF': '\r\nGET / HTTP/1.1\r\n' + H + '\r\n',
  'leading CRLF CRLF': '\r\n\r\nGET / HTTP/1.1\r\n' + H + '\r\n',
  'leading LF': '\nGET / HTTP/1.1\r\n' + H + '\r\n',
  'CRLF after the last request, then EOF': 'GET / HTTP/1.1\r\n' + H + '\r\n\r\n',
  'CRLF between pipelined requests': POST + 'Content-Length: 1\r\n\r\nx\r\nGET / HTTP/1.1\r\n' + H + '\r\n',
  'Connection: close': 'GET / HTTP/1.1\r\n' + H + 'Connection: close\r\n\r\n',
  'empty lines after Connection: close': 'GET / HTTP/1.1\r\n' + H + 'Connection: close\r\n\r\n\r\n\n',
  'Expect: 100-continue': POST + 'Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok',
  DELETE: 'DELETE /item/1 HTTP/1.1\r\n' + H + '\r\n',
  PATCH: 'PATCH /item/1 HTTP/1.1\r\n' + H + 'Content-Length: 2\r\n\r\n{}',
  PURGE: 'PURGE /cached HTTP/1.1\r\n' + H + '\r\n',
  QUERY: 'QUERY /q HTTP/1.1\r\n' + H + 'Content-Length: 1\r\n\r\nq',
  'percent-encoding and sub-delims': "GET /a%20b/c;d=e,f!$&'()*+=@:~ HTTP/1.1\r\n" + H + '\r\n',
  'unusual visible ASCII in target': 'GET /a?x="<>\\^`{|} HTTP/1.1\r\n' + H + '\r\n',
  'Host with port': 'GET / HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n',
  'IPv6 Host': 'GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n',
  'empty Host': 'GET / HTTP/1.1\r\nHost:\r\n\r\n',
  'long header value': 'GET / HTTP/1.1\r\n' + H + 'X-Long: ' + 'v'.repeat(4000) + '\r\n\r\n',
  'body that looks like a request':
    POST + 'Content-Length: 35\r\n\r\nGET /admin HTTP/1.1\r\nHost: evil\r\n\r\n',
  CONNECT: 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
  'Upgrade: websocket': 'GET /ws HTTP/1.1\r\n' + H + 'Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
  'Upgrade without Connection: upgrade is a plain request': 'GET / HTTP/1.1\r\n' + H + 'Upgrade: h2c\r\n\r\n',
};

/** Malformed or ambiguous requests both parsers must reject. */
const INVALID: Record<string, string> = {
  // Request smuggling classics: two framings at once.
  'CL.TE': POST + 'Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG',
  'TE.CL': POST + 'Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n',
  'TE.TE xchunked': POST + 'Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n',
  'TE.TE chunked, identity': POST + 'Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
  'TE.TE chunked, chunked': POST + 'Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n',
  'TE.TE two fields': POST + 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'TE.TE chunked then x': POST + 'Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n',
  'TE identity': POST + 'Transfer-Encoding: identity\r\n\r\n0\r\n\r\n',
  'TE space before colon': POST + 'Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n',
  'TE tab before colon': POST + 'Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n',
  'TE folded onto next line': POST + 'Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n',
  'TE hidden in a fold': POST + 'X-A: b\r\n\tTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'TE chunked + trailing tab': POST + 'Transfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n',
  'TE chunked + space and tab': POST + 'Transfer-Encoding: chunked \t\r\n\r\n0\r\n\r\n',
  'TE chunked + trailing comma': POST + 'Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n',
  'TE chunked with parameter': POST + 'Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n',
  'TE quoted': POST + 'Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n',
  'TE chunk (truncated name)': POST + 'Transfer-Encoding: chunk\r\n\r\n0\r\n\r\n',
  'TE empty': POST + 'Transfer-Encoding: \r\n\r\n',
  'TE chunked then empty field': POST + 'Transfer-Encoding: chunked\r\nTransfer-Encoding: \r\n\r\n0\r\n\r\n',
  'TE with vertical tab': POST + 'Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n',
  'TE with CR inside': POST + 'Transfer-Encoding: chun\rked\r\n\r\n0\r\n\r\n',
  'TE with CL in other case': POST + 'transfer-encoding: chunked\r\ncontent-length: 0\r\n\r\n0\r\n\r\n',
  // Content-Length tricks.
  'two differing CL': POST + 'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
  'two identical CL': POST + 'Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello',
  'CL list 5, 5': POST + 'Content-Length: 5, 5\r\n\r\nhello',
  'CL with plus sign': POST + 'Content-Length: +5\r\n\r\nhello',
  'CL negative': POST + 'Content-Length: -5\r\n\r\nhello',
  'CL with inner space': POST + 'Content-Length: 5 5\r\n\r\nhello',
  'CL hex': POST + 'Content-Length: 0x5\r\n\r\nhello',
  'CL with letter': POST + 'Content-Length: 5a\r\n\r\nhello',
  'CL empty': POST + 'Content-Length: \r\n\r\nhello',
  'CL huge': POST + 'Content-Length: 99999999999999999999\r\n\r\nhello',
  'CL shorter than body (leftover is a bad request)': POST + 'Content-Length: 3\r\n\r\nhello',
  // Chunk-size tricks.
  'chunk size 0x5': POST + 'Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n',
  'chunk size with leading space': POST + 'Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n',
  'chunk size with trailing space': POST + 'Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n',
  'chunk size with tab': POST + 'Transfer-Encoding: chunked\r\n\r\n5\t\r\nhello\r\n0\r\n\r\n',
  'chunk size negative': POST + 'Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n',
  'chunk size with plus': POST + 'Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n',
  'chunk size huge': POST + 'Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n',
  'chunk size missing': POST + 'Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n',
  'chunk size not hex': POST + 'Transfer-Encoding: chunked\r\n\r\ng\r\nhello\r\n0\r\n\r\n',
  'chunk data longer than size': POST + 'Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n',
  'chunk data without CRLF': POST + 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello0\r\n\r\n',
  'chunk data followed by LF only': POST + 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n',
  'chunk size line ends in LF': POST + 'Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n',
  'chunk size line ends in CR': POST + 'Transfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n',
  'last chunk without final CRLF then EOF': POST + 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n',
  'chunk ext with space after ;': POST + 'Transfer-Encoding: chunked\r\n\r\n5; a=b\r\nhello\r\n0\r\n\r\n',
  'chunk ext with space before ;': POST + 'Transfer-Encoding: chunked\r\n\r\n5 ;a=b\r\nhello\r\n0\r\n\r\n',
  'chunk ext empty': POST + 'Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n',
  'chunk ext value with space': POST + 'Transfer-Encoding: chunked\r\n\r\n5;a=b c\r\nhello\r\n0\r\n\r\n',
  'chunk ext unterminated quote': POST + 'Transfer-Encoding: chunked\r\n\r\n5;a="b\r\nhello\r\n0\r\n\r\n',
  'chunk ext with bare LF': POST + 'Transfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n',
  'chunk ext with NUL': POST + 'Transfer-Encoding: chunked\r\n\r\n5;a=\x00\r\nhello\r\n0\r\n\r\n',
  'chunk ext with bad name': POST + 'Transfer-Encoding: chunked\r\n\r\n5;@=1\r\nhello\r\n0\r\n\r\n',
  'trailer with space before colon': POST + 'Transfer-Encoding: chunked\r\n\r\n0\r\nX-T : 1\r\n\r\n',
  'trailer with NUL': POST + 'Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\x00b\r\n\r\n',
  'trailer folded': POST + 'Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\r\n b\r\n\r\n',
  // Line endings.
  'bare LF everywhere': 'GET / HTTP/1.1\nHost: example.com\n\n',
  'bare LF after request line': 'GET / HTTP/1.1\n' + H + '\r\n',
  'bare LF after a field': 'GET / HTTP/1.1\r\nHost: example.com\n\r\n',
  'bare LF ending the head': 'GET / HTTP/1.1\r\n' + H + '\n',
  'bare CR in a value': 'GET / HTTP/1.1\r\n' + H + 'X: a\rb\r\n\r\n',
  'bare CR ending a field': 'GET / HTTP/1.1\r\nHost: example.com\r\r\n\r\n',
  'bare CR in request line': 'GET /\r HTTP/1.1\r\n' + H + '\r\n',
  'CR CR LF at the end': 'GET / HTTP/1.1\r\n' + H + '\r\r\n',
  // Field bytes.
  'NUL in value': 'GET / HTTP/1.1\r\n' + H + 'X: a\x00b\r\n\r\n',
  'NUL in name': 'GET / HTTP/1.1\r\n' + H + 'X\x00Y: a\r\n\r\n',
  'SOH in value': 'GET / HTTP/1.1\r\n' + H + 'X: a\x01b\r\n\r\n',
  'DEL in value': 'GET / HTTP/1.1\r\n' + H + 'X: a\x7fb\r\n\r\n',
  'ESC in value': 'GET / HTTP/1.1\r\n' + H + 'X: \x1b[31m\r\n\r\n',
  'space before colon': 'GET / HTTP/1.1\r\n' + H + 'X-Name : v\r\n\r\n',
  'empty field name': 'GET / HTTP/1.1\r\n' + H + ': v\r\n\r\n',
  'field without colon': 'GET / HTTP/1.1\r\n' + H + 'X-No-Colon\r\n\r\n',
  'separator in name': 'GET / HTTP/1.1\r\n' + H + 'X(Y): v\r\n\r\n',
  'non-ASCII name': 'GET / HTTP/1.1\r\n' + H + 'X-\xe9: v\r\n\r\n',
  'whitespace before first field': 'GET / HTTP/1.1\r\n Host: example.com\r\n\r\n',
  'obs-fold': 'GET / HTTP/1.1\r\n' + H + 'X: a\r\n b\r\n\r\n',
  'obs-fold with tab': 'GET / HTTP/1.1\r\n' + H + 'X: a\r\n\tb\r\n\r\n',
  // Request line.
  'lower-case method': 'get / HTTP/1.1\r\n' + H + '\r\n',
  'unknown method': 'FOO / HTTP/1.1\r\n' + H + '\r\n',
  'non-token method': 'G@T / HTTP/1.1\r\n' + H + '\r\n',
  'missing target': 'GET HTTP/1.1\r\n' + H + '\r\n',
  'space in target': 'GET /a b HTTP/1.1\r\n' + H + '\r\n',
  'control in target': 'GET /a\x01b HTTP/1.1\r\n' + H + '\r\n',
  'non-ASCII in target': 'GET /caf\xe9 HTTP/1.1\r\n' + H + '\r\n',
  'authority-form without CONNECT': 'GET example.com:80 HTTP/1.1\r\n' + H + '\r\n',
  'relative target': 'GET a/b HTTP/1.1\r\n' + H + '\r\n',
  'space after version': 'GET / HTTP/1.1 \r\n' + H + '\r\n',
  'lower-case version': 'GET / http/1.1\r\n' + H + '\r\n',
  'HTTP/1.2': 'GET / HTTP/1.2\r\n' + H + '\r\n',
  'HTTP/11': 'GET / HTTP/11\r\n' + H + '\r\n',
  'garbage version': 'GET / HTTX/1.1\r\n' + H + '\r\n',
  'HTTP/2 preface': 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  'TLS hello bytes': '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
  'missing Host on HTTP/1.1': 'GET / HTTP/1.1\r\n\r\n',
  // Truncated at EOF.
  'head cut short': 'GET / HTTP/1.1\r\nHost: exa',
  'head without final CRLF': 'GET / HTTP/1.1\r\n' + H,
  'body cut short': POST + 'Content-Length: 10\r\n\r\nhello',
  'chunked body cut short': POST + 'Transfer-Encoding: chunked\r\n\r\n5\r\nhel',
  // Pipelines that turn bad: the first request is served, the second rejected.
  'valid then CL.TE':
    'GET / HTTP/1.1\r\n' +
    H +
    '\r\n' +
    POST +
    'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'request after Connection: close':
    'GET /1 HTTP/1.1\r\n' + H + 'Connection: close\r\n\r\nGET /2 HTTP/1.1\r\n' + H + '\r\n',
  'request after a closing list':
    'GET / HTTP/1.1\r\n' + H + 'Connection: keep-alive, close\r\n\r\nGET / HTTP/1.1\r\n\r\n',
  'request after HTTP/1.0 without keep-alive': 'GET /1 HTTP/1.0\r\n\r\nGET /2 HTTP/1.1\r\n' + H + '\r\n',
  'body smuggled after Connection: close': POST + 'Connection: close\r\nContent-Length: 1\r\n\r\nxGET /',
  'Content-Length in trailers': POST + 'Transfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n',
  'Transfer-Encoding in trailers':
    POST + 'Transfer-Encoding: chunked\r\n\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n',
  'valid then garbage': 'GET / HTTP/1.1\r\n' + H + '\r\nHELLO\r\n\r\n',
};

/** Cases we reject and llhttp accepts, on purpose. Each says why. */
const STRICTER: Record<string, [request: string, reason: string]> = {
  'two Host fields': [
    'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n',
    'RFC 9112 §3.2: more than one Host is a 400; virtual hosting must not depend on which one a hop picks',
  ],
  'Host with a slash': [
    'GET / HTTP/1.1\r\nHost: example.com/../etc\r\n\r\n',
    'Host must be uri-host[:port] (RFC 9110 §7.2); it selects a document root',
  ],
  'Host with userinfo': [
    'GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n',
    'no userinfo in Host (RFC 9110 §4.2.4)',
  ],
  'Host with space': ['GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n', 'not a uri-host'],
  'Host with non-numeric port': ['GET / HTTP/1.1\r\nHost: example.com:http\r\n\r\n', 'port = *DIGIT'],
  'absolute-form with userinfo': [
    'GET http://user@example.com/ HTTP/1.1\r\n' + H + '\r\n',
    'RFC 9110 §4.2.4: userinfo is deprecated and a phishing vector',
  ],
  'double space after method': [
    'GET  / HTTP/1.1\r\n' + H + '\r\n',
    'RFC 9112 §3: single SP separators; lenient splitting is a known desync source',
  ],
  'HTTP/2.0 request line': [
    'GET / HTTP/2.0\r\n' + H + '\r\n',
    'RFC 9110 §15.6.6: answered 505, not parsed as 1.x',
  ],
  'HTTP/0.9 request line': ['GET /\r\n' + H + '\r\n', 'HTTP/0.9 is not served'],
  'asterisk-form with GET': ['GET * HTTP/1.1\r\n' + H + '\r\n', 'RFC 9112 §3.2.4: * only with OPTIONS'],
  'asterisk-form with M-SEARCH (SSDP)': [
    'M-SEARCH * HTTP/1.1\r\n' + H + '\r\n',
    'RFC 9112 §3.2.4: * only with OPTIONS',
  ],
  'chunk extension with empty value': [
    POST + 'Transfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n0\r\n\r\n',
    'RFC 9112 §7.1.1: chunk-ext-val is a token or quoted-string, never empty',
  ],
  'CONNECT with origin-form': [
    'CONNECT /x HTTP/1.1\r\n' + H + '\r\n',
    'RFC 9112 §3.2.3: CONNECT takes authority-form only',
  ],
  'fragment in target': ['GET /a#frag HTTP/1.1\r\n' + H + '\r\n', 'RFC 9112 §3.2: a target has no fragment'],
  'bare CR before the request line': [
    '\rGET / HTTP/1.1\r\n' + H + '\r\n',
    'RFC 9112 §2.2: a bare CR is never a line ending; only CRLF/LF empty lines are skipped',
  ],
  'TE gzip, chunked': [
    POST + 'Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
    'RFC 9112 §6.1: a transfer coding we do not decode is answered 501',
  ],
  'TE with an empty list element': [
    POST + 'Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n',
    'framing lists are parsed strictly: no empty elements in Transfer-Encoding',
  ],
  'TE identity, chunked': [
    POST + 'Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n',
    'any coding besides chunked is answered 501 (identity is no longer a registered coding)',
  ],
  'TE in HTTP/1.0': [
    'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing',
  ],
  'more than maxHeaders fields': [
    'GET / HTTP/1.1\r\n' + H + 'X: y\r\n'.repeat(100) + '\r\n',
    '431 beyond 100 fields (Node silently drops fields past 2000)',
  ],
  'chunk line longer than 4 KiB': [
    POST + 'Transfer-Encoding: chunked\r\n\r\n5;x=' + 'a'.repeat(5000) + '\r\nhello\r\n0\r\n\r\n',
    'chunk extensions are bounded (a CPU/memory sink otherwise)',
  ],
  'Host in trailers': [
    POST + 'Transfer-Encoding: chunked\r\n\r\n0\r\nHost: other.example\r\n\r\n',
    'RFC 9110 §6.5.1: routing fields never come from trailers',
  ],
  'Connection in trailers': [
    POST + 'Transfer-Encoding: chunked\r\n\r\n0\r\nConnection: close\r\n\r\n',
    'RFC 9110 §6.5.1: llhttp lets a trailer close the connection; we refuse connection fields in trailers',
  ],
  'Upgrade in trailers': [
    POST + 'Transfer-Encoding: chunked\r\n\r\n0\r\nUpgrade: x\r\n\r\n',
    'RFC 9110 §6.5.1: connection-level fields never come from trailers',
  ],
  'absolute-form with other scheme': [
    'GET ftp://example.com/x HTTP/1.1\r\n' + H + '\r\n',
    'only http and https targets are served',
  ],
};

// ---------------------------------------------------------------------------------------------------------
// Our side.
function viaParser(bytes: Buffer): Outcome {
  const messages: Message[] = [];
  let current: Message | null = null;
  let body: Buffer[] = [];
  let upgraded = false;
  const parser = new HttpParser('request', LIMITS, {
    onHead(head) {
      const headers: string[] = [];
      for (let i = 0; i < head.headers.length; i++)
        headers.push(head.headers.rawName(i), head.headers.value(i));
      current = {
        method: head.method,
        target: head.rawTarget ?? head.target,
        headers,
        body: '',
        trailers: [],
      };
      body = [];
      upgraded = head.upgrade;
    },
    onBody(chunk) {
      body.push(Buffer.from(chunk));
    },
    onMessageComplete(trailers) {
      const message = current!;
      message.body = Buffer.concat(body).toString('latin1');
      if (trailers)
        for (let i = 0; i < trailers.length; i++)
          message.trailers.push(trailers.rawName(i), trailers.value(i));
      messages.push(message);
    },
  });
  try {
    parser.execute(bytes);
    if (!upgraded) parser.finish();
    return { messages, rejected: false };
  } catch (err) {
    if (!(err instanceof HttpParseError)) throw err;
    return { messages, rejected: true };
  }
}

// ---------------------------------------------------------------------------------------------------------
// llhttp's side: a strict node:http server. One case at a time, so the server state is per case.
interface NodeCase {
  requests: { message: Message; req: http.IncomingMessage; body: Buffer[] }[];
  clientError: boolean;
  upgradeWithBody: boolean;
}
let nodeCase: NodeCase = { requests: [], clientError: false, upgradeWithBody: false };
let server: http.Server;
let port = 0;

function recordHead(req: http.IncomingMessage): {
  message: Message;
  req: http.IncomingMessage;
  body: Buffer[];
} {
  const entry = {
    message: { method: req.method!, target: req.url!, headers: req.rawHeaders, body: '', trailers: [] },
    req,
    body: [] as Buffer[],
  };
  nodeCase.requests.push(entry);
  return entry;
}

before(async () => {
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const entry = recordHead(req);
    req.on('data', (chunk: Buffer) => entry.body.push(chunk));
    req.on('end', () => res.end());
    req.on('error', () => {});
  };
  server = http.createServer({ insecureHTTPParser: false, requireHostHeader: true }, onRequest);
  // An unknown Expect is a server decision (417), not a parse error: treat it as a plain request.
  server.on('checkExpectation', onRequest);
  server.on('clientError', (_err, socket) => {
    nodeCase.clientError = true;
    socket.destroy();
  });
  // Tunnels: the head is the whole message on both sides.
  const tunnel = (req: http.IncomingMessage, socket: net.Socket) => {
    recordHead(req).req.complete = true;
    const length = Number(req.headers['content-length'] ?? 0);
    if (req.method !== 'CONNECT' && (length > 0 || req.headers['transfer-encoding'] !== undefined))
      nodeCase.upgradeWithBody = true;
    socket.destroy();
  };
  server.on('connect', tunnel);
  server.on('upgrade', tunnel);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

async function viaNode(bytes: Buffer): Promise<Outcome> {
  nodeCase = { requests: [], clientError: false, upgradeWithBody: false };
  const response = await new Promise<string>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => socket.destroy(), 5000);
    timer.unref();
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.end(bytes);
  });
  await new Promise((resolve) => setImmediate(resolve));
  const messages: Message[] = [];
  let incomplete = false;
  for (const { message, req, body } of nodeCase.requests) {
    if (!req.complete) {
      incomplete = true;
      break;
    }
    message.target = originForm(message.method, message.target);
    message.body = Buffer.concat(body).toString('latin1');
    message.trailers = req.rawTrailers;
    messages.push(message);
  }
  // requireHostHeader answers 400 itself without a clientError event.
  const refused = /HTTP\/1\.1 (?!200|100)\d{3}/.test(response);
  const rejected = nodeCase.clientError || incomplete || refused;
  return nodeCase.upgradeWithBody ? { messages, rejected, upgradeWithBody: true } : { messages, rejected };
}

/** Node reports absolute-form targets as sent; we normalise them to origin-form (RFC 9112 §3.2.2). */
function originForm(method: string, url: string): string {
  if (method === 'CONNECT') return url;
  const match = /^https?:\/\/[^/?]*/i.exec(url);
  if (!match) return url;
  const rest = url.slice(match[0].length);
  return rest === '' ? '/' : rest.startsWith('?') ? '/' + rest : rest;
}

// ---------------------------------------------------------------------------------------------------------
describe('HttpParser agrees with llhttp (node:http strict)', () => {
  for (const [name, text] of Object.entries(VALID)) {
    test(`accepts: ${name}`, async () => {
      const bytes = Buffer.from(text, 'latin1');
      const node = await viaNode(bytes);
      const ours = viaParser(bytes);
      assert.equal(node.rejected, false, 'llhttp should accept this corpus entry');
      assert.ok(node.messages.length > 0);
      assert.deepEqual(ours, node);
    });
  }
  for (const [name, text] of Object.entries(INVALID)) {
    test(`rejects: ${name}`, async () => {
      const bytes = Buffer.from(text, 'latin1');
      const node = await viaNode(bytes);
      const ours = viaParser(bytes);
      assert.equal(node.rejected, true, 'llhttp should reject this corpus entry');
      assert.deepEqual(ours, node);
    });
  }
  test('mutated requests: never accepted when llhttp rejects them, same messages when both accept', async () => {
    const seeds = [...Object.values(VALID), ...Object.values(INVALID).slice(0, 20)];
    const fragments = [
      '\r\n',
      '\r',
      '\n',
      ' ',
      '\t',
      ':',
      ';',
      ',',
      '"',
      '=',
      '\x00',
      '\x7f',
      '\xff',
      '\x0b',
      '#',
      '@',
    ];
    fragments.push(
      'chunked',
      'Transfer-Encoding: chunked\r\n',
      'Content-Length: 5\r\n',
      'Host: x\r\n',
      '0\r\n\r\n',
    );
    fragments.push(
      'Connection: close\r\n',
      'Connection: upgrade\r\nUpgrade: x\r\n',
      ' HTTP/1.1\r\n',
      'GET / HTTP/1.1\r\n',
    );
    const mutation = fc.record({
      at: fc.nat(),
      kind: fc.constantFrom('insert', 'delete', 'replace'),
      fragment: fc.oneof(fc.constantFrom(...fragments), fc.string({ maxLength: 2, unit: 'binary-ascii' })),
      size: fc.integer({ min: 1, max: 4 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...seeds),
        fc.array(mutation, { minLength: 1, maxLength: 2 }),
        async (seed, ms) => {
          let bytes = Buffer.from(seed, 'latin1');
          for (const m of ms) {
            const at = m.at % (bytes.length + 1);
            const fragment = Buffer.from(m.fragment, 'latin1');
            const tail = bytes.subarray(Math.min(bytes.length, at + m.size));
            const head = bytes.subarray(0, at);
            if (m.kind === 'insert') bytes = Buffer.concat([head, fragment, bytes.subarray(at)]);
            else if (m.kind === 'delete') bytes = Buffer.concat([head, tail]);
            else bytes = Buffer.concat([head, fragment, tail]);
          }
          const node = await viaNode(bytes);
          const ours = viaParser(bytes);
          if (node.upgradeWithBody) return; // a deliberate difference (see Outcome), tested on its own
          if (node.rejected) assert.equal(ours.rejected, true, 'llhttp rejects this; so must we');
          else if (!ours.rejected) assert.deepEqual(ours.messages, node.messages);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('an upgrade request with a body: llhttp tunnels it, we read the body and the request after it', async () => {
    const text =
      'POST /u HTTP/1.1\r\n' +
      H +
      'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nContent-Length: 4\r\n\r\nbodyGET /next HTTP/1.1\r\n' +
      H +
      '\r\n';
    const bytes = Buffer.from(text, 'latin1');
    const node = await viaNode(bytes);
    assert.equal(node.upgradeWithBody, true, 'llhttp no longer upgrades here: drop the special case');
    const ours = viaParser(bytes);
    assert.equal(ours.rejected, false);
    assert.deepEqual(
      ours.messages.map((m) => [m.method, m.target, m.body]),
      [
        ['POST', '/u', 'body'],
        ['GET', '/next', ''],
      ],
    );
  });

  for (const [name, [text, reason]] of Object.entries(STRICTER)) {
    test(`stricter than llhttp: ${name} (${reason})`, async () => {
      const bytes = Buffer.from(text, 'latin1');
      const node = await viaNode(bytes);
      const ours = viaParser(bytes);
      assert.equal(node.rejected, false, 'llhttp now rejects this: move it to INVALID');
      assert.equal(ours.rejected, true);
    });
  }
});

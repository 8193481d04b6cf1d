/**
 * A request's header fields read in place from the flat list node:http2 hands over
 * (`[name, value, name, value, ...]`, names lower-cased by nghttp2: RFC 9113 §8.2.1), past its
 * pseudo-header fields, which come first (RFC 9113 §8.3; nghttp2 refuses a request that breaks it).
 * No copy per request: the list is the one Node built, and fields the request gains when it is read in
 * HTTP/1.1 terms (Host, Transfer-Encoding) are appended to it. A plugin that edits the request's fields
 * gets a copy first (`HttpRequest.setHeader`).
 */
import type { HeaderList } from '../http/types.ts';

export class FlatFields implements HeaderList {
  private readonly flat: string[];
  /** Index of the first regular field's name. */
  private readonly start: number;

  constructor(flat: string[], start: number) {
    this.flat = flat;
    this.start = start;
  }

  get length(): number {
    return (this.flat.length - this.start) >> 1;
  }

  name(i: number): string {
    return this.flat[this.start + 2 * i]!;
  }

  rawName(i: number): string {
    return this.flat[this.start + 2 * i]!;
  }

  value(i: number): string {
    return this.flat[this.start + 2 * i + 1]!;
  }

  get(name: string): string | undefined {
    const flat = this.flat;
    for (let i = this.start; i < flat.length; i += 2) if (flat[i] === name) return flat[i + 1];
    return undefined;
  }

  getJoined(name: string): string | undefined {
    const flat = this.flat;
    let joined: string | undefined;
    for (let i = this.start; i < flat.length; i += 2) {
      if (flat[i] !== name) continue;
      joined = joined === undefined ? flat[i + 1] : `${joined}, ${flat[i + 1]}`;
    }
    return joined;
  }

  getAll(name: string): string[] {
    const flat = this.flat;
    const all: string[] = [];
    for (let i = this.start; i < flat.length; i += 2) if (flat[i] === name) all.push(flat[i + 1]!);
    return all;
  }

  has(name: string): boolean {
    const flat = this.flat;
    for (let i = this.start; i < flat.length; i += 2) if (flat[i] === name) return true;
    return false;
  }
}

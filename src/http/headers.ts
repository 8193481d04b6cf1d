/**
 * The header list the parser produces: three parallel arrays (lower-cased names, raw names, values) scanned
 * linearly. Real requests carry 5-20 fields, where a scan beats hashing and costs no per-field object.
 */
import type { HeaderList } from './types.ts';

/** Header fields of one message, in arrival order (see `HeaderList`). */
export class Headers implements HeaderList {
  /** Lower-cased field names (RFC 9110 §5.1: names are case-insensitive). */
  readonly names: string[];
  /** Field names as they arrived on the wire. */
  readonly rawNames: string[];
  /** Field values, leading and trailing whitespace removed. */
  readonly values: string[];

  constructor() {
    this.names = [];
    this.rawNames = [];
    this.values = [];
  }

  /** Builds a list from `[name, value]` pairs (tests, proxies assembling a message). */
  static from(entries: Iterable<readonly [string, string]>): Headers {
    const headers = new Headers();
    for (const [name, value] of entries) headers.add(name, value);
    return headers;
  }

  get length(): number {
    return this.names.length;
  }

  /** Appends a field; `lowerName` may be passed when the caller already has it. */
  add(rawName: string, value: string, lowerName: string = rawName.toLowerCase()): void {
    this.names.push(lowerName);
    this.rawNames.push(rawName);
    this.values.push(value);
  }

  name(i: number): string {
    return this.names[i]!;
  }

  rawName(i: number): string {
    return this.rawNames[i]!;
  }

  value(i: number): string {
    return this.values[i]!;
  }

  get(name: string): string | undefined {
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i] === name) return this.values[i];
    return undefined;
  }

  getJoined(name: string): string | undefined {
    const names = this.names;
    let joined: string | undefined;
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== name) continue;
      joined = joined === undefined ? this.values[i] : `${joined}, ${this.values[i]}`;
    }
    return joined;
  }

  getAll(name: string): string[] {
    const names = this.names;
    const all: string[] = [];
    for (let i = 0; i < names.length; i++) if (names[i] === name) all.push(this.values[i]!);
    return all;
  }

  has(name: string): boolean {
    return this.names.includes(name);
  }
}

/** A shared, immutable empty list (messages without fields, chunked bodies without trailers). */
export const EMPTY_HEADERS: HeaderList = freeze(new Headers());

function freeze(headers: Headers): Headers {
  Object.freeze(headers.names);
  Object.freeze(headers.rawNames);
  Object.freeze(headers.values);
  return Object.freeze(headers);
}

/**
 * Structured Field Values (RFC 8941): a strict parser for Dictionary fields (§4.2.2), the form of targeted
 * cache-control fields such as `CDN-Cache-Control` (RFC 9213). Strict as the RFC asks (§4.2): any syntax
 * error fails the whole field (`null`), never a guess at what was meant. Parameters are checked and
 * dropped: no field Tamarin reads gives them a meaning.
 */

/** A bare item (§3.3) or an inner list (§3.1.1) of them. */
export type StructuredValue =
  | { readonly type: 'integer'; readonly value: number }
  | { readonly type: 'decimal'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'token'; readonly value: string }
  | { readonly type: 'bytes'; readonly value: string }
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: 'inner-list'; readonly value: readonly StructuredValue[] };

/** Thrown inside the parser only; `parseDictionary` turns it into `null`. */
class SyntaxFailure extends Error {}

const fail = (): never => {
  throw new SyntaxFailure();
};

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isLcAlpha = (c: number) => c >= 0x61 && c <= 0x7a;
const isAlpha = (c: number) => isLcAlpha(c) || (c >= 0x41 && c <= 0x5a);
/** tchar (RFC 9110 §5.6.2). */
const isTchar = (c: number) => isAlpha(c) || isDigit(c) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));

/** A cursor over the field value. */
class Input {
  readonly text: string;
  i = 0;
  constructor(text: string) {
    this.text = text;
  }
  get done(): boolean {
    return this.i >= this.text.length;
  }
  /** The next character code, or -1 at the end. */
  peek(): number {
    return this.i < this.text.length ? this.text.charCodeAt(this.i) : -1;
  }
  skipSp(): void {
    while (this.peek() === 0x20) this.i++;
  }
  skipOws(): void {
    while (this.peek() === 0x20 || this.peek() === 0x09) this.i++;
  }
}

/** §4.2.3.3 key: lcalpha / "*" first, then lcalpha, DIGIT, "_", "-", ".", "*". */
function parseKey(input: Input): string {
  const start = input.i;
  const first = input.peek();
  if (!isLcAlpha(first) && first !== 0x2a) fail();
  input.i++;
  for (;;) {
    const c = input.peek();
    if (isLcAlpha(c) || isDigit(c) || c === 0x5f || c === 0x2d || c === 0x2e || c === 0x2a) input.i++;
    else break;
  }
  return input.text.slice(start, input.i);
}

/** §4.2.4 Integer or Decimal. */
function parseNumber(input: Input): StructuredValue {
  const start = input.i;
  if (input.peek() === 0x2d) input.i++;
  if (!isDigit(input.peek())) fail();
  let decimal = false;
  let digits = 0;
  let pointAt = -1;
  for (;;) {
    const c = input.peek();
    if (isDigit(c)) {
      input.i++;
      digits++;
    } else if (c === 0x2e && !decimal) {
      if (digits > 12) fail();
      decimal = true;
      pointAt = input.i;
      input.i++;
    } else break;
    if (!decimal && digits > 15) fail();
    if (decimal && digits > 15) fail();
  }
  const text = input.text.slice(start, input.i);
  if (!decimal) return { type: 'integer', value: Number(text) };
  const fraction = input.i - pointAt - 1;
  if (fraction < 1 || fraction > 3) fail();
  return { type: 'decimal', value: Number(text) };
}

/** §4.2.5 String: printable ASCII, `\` escapes only `"` and `\`. */
function parseString(input: Input): StructuredValue {
  input.i++; // opening quote
  let value = '';
  for (;;) {
    if (input.done) fail();
    const c = input.peek();
    input.i++;
    if (c === 0x5c) {
      const next = input.peek();
      if (next !== 0x22 && next !== 0x5c) fail();
      value += String.fromCharCode(next);
      input.i++;
    } else if (c === 0x22) return { type: 'string', value };
    else if (c < 0x20 || c > 0x7e) fail();
    else value += String.fromCharCode(c);
  }
}

/** §4.2.6 Token: ALPHA / "*" first, then tchar, ":" and "/". */
function parseToken(input: Input): StructuredValue {
  const start = input.i;
  input.i++;
  for (;;) {
    const c = input.peek();
    if (c !== -1 && (isTchar(c) || c === 0x3a || c === 0x2f)) input.i++;
    else break;
  }
  return { type: 'token', value: input.text.slice(start, input.i) };
}

/** §4.2.7 Byte Sequence: base64 between colons (kept as its text: nothing here decodes it). */
function parseBytes(input: Input): StructuredValue {
  input.i++;
  const start = input.i;
  for (;;) {
    const c = input.peek();
    if (c === -1) fail();
    if (c === 0x3a) break;
    if (!(isAlpha(c) || isDigit(c) || c === 0x2b || c === 0x2f || c === 0x3d)) fail();
    input.i++;
  }
  const value = input.text.slice(start, input.i);
  input.i++;
  return { type: 'bytes', value };
}

/** §4.2.3.1 bare item. */
function parseBareItem(input: Input): StructuredValue {
  const c = input.peek();
  if (c === 0x2d || isDigit(c)) return parseNumber(input);
  if (c === 0x22) return parseString(input);
  if (c === 0x2a || isAlpha(c)) return parseToken(input);
  if (c === 0x3a) return parseBytes(input);
  if (c === 0x3f) {
    input.i++;
    const b = input.peek();
    if (b !== 0x30 && b !== 0x31) fail();
    input.i++;
    return { type: 'boolean', value: b === 0x31 };
  }
  return fail();
}

/** §4.2.3.2 parameters: checked, then dropped. */
function skipParameters(input: Input): void {
  while (input.peek() === 0x3b) {
    input.i++;
    input.skipSp();
    parseKey(input);
    if (input.peek() === 0x3d) {
      input.i++;
      parseBareItem(input);
    }
  }
}

/** §4.2.1.2 inner list. */
function parseInnerList(input: Input): StructuredValue {
  input.i++;
  const items: StructuredValue[] = [];
  for (;;) {
    input.skipSp();
    if (input.peek() === 0x29) {
      input.i++;
      skipParameters(input);
      return { type: 'inner-list', value: items };
    }
    items.push(parseBareItem(input));
    skipParameters(input);
    const c = input.peek();
    if (c !== 0x20 && c !== 0x29) fail();
  }
}

/**
 * Parse a Dictionary field value (RFC 8941 §4.2.2; several field lines joined with `,` first, §4.2).
 * Members without a value are Boolean true; a repeated key keeps its last value. Returns `null` when the
 * value is not a valid Dictionary (the caller then ignores the field as a whole).
 */
export function parseDictionary(value: string): Map<string, StructuredValue> | null {
  const input = new Input(value);
  const dictionary = new Map<string, StructuredValue>();
  try {
    input.skipSp();
    while (!input.done) {
      const key = parseKey(input);
      let member: StructuredValue;
      if (input.peek() === 0x3d) {
        input.i++;
        if (input.peek() === 0x28) member = parseInnerList(input);
        else {
          member = parseBareItem(input);
        }
      } else member = { type: 'boolean', value: true };
      skipParameters(input);
      dictionary.set(key, member);
      input.skipOws();
      if (input.done) break;
      if (input.peek() !== 0x2c) fail();
      input.i++;
      input.skipOws();
      if (input.done) fail(); // trailing comma
    }
    // §4.2 trailing SP was consumed by the OWS skips above.
    return dictionary;
  } catch (error) {
    if (error instanceof SyntaxFailure) return null;
    throw error;
  }
}

/**
 * JSON as the Python side of the ecosystem reads and writes it:
 *
 * - {@link parseJsonDocument}: a strict JSON parser that also reports what
 *   `JSON.parse` forgets — the source order of every object's keys (integer-like
 *   keys included), duplicate keys, and which numbers were written as floats
 *   (`1.0`, `1e3`). Safetensors headers need the first two for byte-identical
 *   rewrites; PEFT configs need the third.
 * - {@link dumpsPythonJson}: `json.dumps(obj, indent=2, sort_keys=True)` byte
 *   for byte (ensure_ascii escapes, Python float repr), which is how PEFT
 *   writes `adapter_config.json`.
 *
 * Pure and dependency-free; errors are `SyntaxError`s that callers wrap in
 * their typed errors with the file name.
 */

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
/** A JSON object. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** What {@link parseJsonDocument} returns besides the value. */
export interface JsonDocument {
  value: JsonValue;
  /** Keys of each parsed object, in source order. */
  keyOrder: WeakMap<JsonObject, string[]>;
  /** JSON pointers (RFC 6901) of numbers written with a fraction or exponent. */
  floatPaths: Set<string>;
}

/** Nesting deeper than this is refused (forged input must not blow the stack). */
export const MAX_JSON_DEPTH = 64;

/**
 * Strictly parses JSON text (RFC 8259). Throws `SyntaxError` with the byte
 * position on malformed input, on duplicate keys, and on nesting deeper than
 * {@link MAX_JSON_DEPTH}.
 */
export function parseJsonDocument(text: string): JsonDocument {
  const doc: JsonDocument = { value: null, keyOrder: new WeakMap(), floatPaths: new Set() };
  const p = new Parser(text, doc);
  p.ws();
  doc.value = p.value('', 0);
  p.ws();
  if (p.i !== text.length) p.fail('unexpected trailing characters');
  return doc;
}

/** Escapes one JSON-pointer segment (`~` → `~0`, `/` → `~1`). */
export function pointerSegment(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Sets an own enumerable property even for names such as `__proto__`. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

const NUMBER_RE = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

class Parser {
  i = 0;
  constructor(
    private readonly s: string,
    private readonly doc: JsonDocument,
  ) {}

  fail(msg: string): never {
    throw new SyntaxError(`${msg} at position ${this.i}`);
  }

  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++;
      else break;
    }
  }

  value(path: string, depth: number): JsonValue {
    if (depth > MAX_JSON_DEPTH) this.fail(`nesting deeper than ${MAX_JSON_DEPTH}`);
    const c = this.s[this.i];
    if (c === '{') return this.object(path, depth);
    if (c === '[') return this.array(path, depth);
    if (c === '"') return this.string();
    if (c === 't') return this.literal('true', true);
    if (c === 'f') return this.literal('false', false);
    if (c === 'n') return this.literal('null', null);
    return this.number(path);
  }

  literal<T>(word: string, v: T): T {
    if (!this.s.startsWith(word, this.i)) this.fail('invalid literal');
    this.i += word.length;
    return v;
  }

  number(path: string): number {
    NUMBER_RE.lastIndex = this.i;
    const m = NUMBER_RE.exec(this.s);
    if (m === null || m[0].length === 0 || m[0] === '-') this.fail('invalid value');
    this.i += m[0].length;
    if (m[1] !== undefined || m[2] !== undefined) this.doc.floatPaths.add(path);
    return Number(m[0]);
  }

  string(): string {
    const s = this.s;
    const start = this.i;
    this.i++; // opening quote
    let escaped = false;
    for (;;) {
      if (this.i >= s.length) this.fail('unterminated string');
      const c = s.charCodeAt(this.i);
      if (c === 0x22) break;
      if (c < 0x20) this.fail('control character in string');
      if (c === 0x5c) {
        escaped = true;
        const e = s[this.i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(this.i + 2, this.i + 6))) this.fail('invalid \\u escape');
          this.i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) this.fail('invalid escape');
        this.i += 2;
        continue;
      }
      this.i++;
    }
    this.i++; // closing quote
    // The token is now known to be valid JSON, so JSON.parse decodes it exactly.
    return escaped ? (JSON.parse(s.slice(start, this.i)) as string) : s.slice(start + 1, this.i - 1);
  }

  object(path: string, depth: number): JsonObject {
    const obj: JsonObject = {};
    const keys: string[] = [];
    const seen = new Set<string>();
    this.i++;
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      this.doc.keyOrder.set(obj, keys);
      return obj;
    }
    for (;;) {
      if (this.s[this.i] !== '"') this.fail('expected a string key');
      const keyAt = this.i;
      const key = this.string();
      if (seen.has(key)) {
        this.i = keyAt;
        this.fail(`duplicate key ${JSON.stringify(key)}`);
      }
      seen.add(key);
      this.ws();
      if (this.s[this.i] !== ':') this.fail("expected ':'");
      this.i++;
      this.ws();
      setOwn(obj, key, this.value(`${path}/${pointerSegment(key)}`, depth + 1));
      keys.push(key);
      this.ws();
      const c = this.s[this.i];
      this.i++;
      if (c === '}') break;
      if (c !== ',') {
        this.i--;
        this.fail("expected ',' or '}'");
      }
      this.ws();
    }
    this.doc.keyOrder.set(obj, keys);
    return obj;
  }

  array(path: string, depth: number): JsonValue[] {
    const out: JsonValue[] = [];
    this.i++;
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(`${path}/${out.length}`, depth + 1));
      this.ws();
      const c = this.s[this.i];
      this.i++;
      if (c === ']') return out;
      if (c !== ',') {
        this.i--;
        this.fail("expected ',' or ']'");
      }
      this.ws();
    }
  }
}

/**
 * Orders strings by Unicode code point, which is also UTF-8 byte order: how
 * Rust's `String` and Python's `str` compare (JavaScript's `<` compares
 * UTF-16 units and disagrees above U+FFFF).
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa !== sb) return sa ? 1 : -1; // a surrogate half encodes a code point above every BMP unit
    return ca - cb;
  }
  return a.length - b.length;
}

/**
 * Python's `repr(float)`: the shortest round-tripping digits, fixed notation
 * for decimal exponents in [-4, 16), else `1e-05` style, and `.0` on
 * integral values. Non-finite values are refused (Python would write `NaN`,
 * which is not JSON).
 */
export function formatPythonFloat(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`cannot write ${x} as JSON`);
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without an argument yields the shortest round-trip digits.
  const [mant, expText] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const decpt = Number(expText) + 1; // position of the decimal point after the first digit
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
    if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  }
  const e = decpt - 1;
  const frac = digits.length > 1 ? `.${digits.slice(1)}` : '';
  return `${sign}${digits[0]}${frac}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/**
 * Python's `json.dumps` string encoding with `ensure_ascii=True`: everything
 * outside printable ASCII (space to `~`) is escaped, DEL and non-ASCII as
 * lowercase `\uXXXX` (UTF-16 units, so astral characters become surrogate pairs).
 */
export function pythonJsonString(s: string): string {
  // JSON.stringify escapes quote, backslash and C0 controls exactly as Python does.
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Options of {@link dumpsPythonJson}. */
export interface PythonJsonOptions {
  /** Spaces per level; `undefined` gives Python's compact `, ` / `: ` form. */
  indent?: number;
  /** Sort object keys by code point, like `sort_keys=True`. */
  sortKeys?: boolean;
  /** True for the JSON pointers of numbers to write as Python floats even when integral. */
  isFloat?: (path: string) => boolean;
}

/** Serialises `value` exactly as Python's `json.dumps` would with these options. */
export function dumpsPythonJson(value: JsonValue, options: PythonJsonOptions = {}): string {
  return dump(value, '', 0, options);
}

function dump(v: JsonValue, path: string, level: number, o: PythonJsonOptions): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return pythonJsonString(v);
  if (typeof v === 'number') {
    if (Number.isInteger(v) && !Object.is(v, -0) && !(o.isFloat?.(path) ?? false)) {
      return Number.isSafeInteger(v) ? String(v) : BigInt(v).toString();
    }
    return formatPythonFloat(v);
  }
  const nl = o.indent === undefined ? '' : `\n${' '.repeat(o.indent * (level + 1))}`;
  const close = o.indent === undefined ? '' : `\n${' '.repeat(o.indent * level)}`;
  const sep = o.indent === undefined ? ', ' : ',';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    const items = v.map((item, i) => nl + dump(item, `${path}/${i}`, level + 1, o));
    return `[${items.join(sep)}${close}]`;
  }
  const keys = Object.keys(v);
  if (keys.length === 0) return '{}';
  if (o.sortKeys === true) keys.sort(compareCodePoints);
  const items = keys.map((k) => `${nl}${pythonJsonString(k)}: ${dump(v[k] as JsonValue, `${path}/${pointerSegment(k)}`, level + 1, o)}`);
  return `{${items.join(sep)}${close}}`;
}

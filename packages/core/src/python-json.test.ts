import { describe, expect, test } from 'vitest';
import { compareCodePoints, dumpsPythonJson, formatPythonFloat, parseJsonDocument, type JsonObject } from './python-json.js';

describe('parseJsonDocument', () => {
  test('parses like JSON.parse and keeps source key order, integer-like keys included', () => {
    const text = '{"b": 1, "10": [true, false, null], "a": {"z": "x\\u00e9\\n", "2": -0.5e2}, "1": {}}';
    const doc = parseJsonDocument(text);
    expect(doc.value).toEqual(JSON.parse(text));
    const root = doc.value as JsonObject;
    expect(doc.keyOrder.get(root)).toEqual(['b', '10', 'a', '1']);
    expect(Object.keys(root)).toEqual(['1', '10', 'b', 'a']); // what JSON.parse order would have lost
    expect(doc.keyOrder.get(root.a as JsonObject)).toEqual(['z', '2']);
  });

  test('records which numbers were written as floats, by JSON pointer', () => {
    const doc = parseJsonDocument('{"i": 1, "f": 1.0, "e": 1e3, "arr": [2, 2.5], "a/b": {"~": 0.0}}');
    expect(new Set(doc.floatPaths)).toEqual(new Set(['/f', '/e', '/arr/1', '/a~1b/~0']));
  });

  test('a "__proto__" key becomes an own property, not the prototype', () => {
    const doc = parseJsonDocument('{"__proto__": {"polluted": true}}');
    const root = doc.value as JsonObject;
    expect(Object.keys(root)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(root)).toBe(Object.prototype);
  });

  test.each([
    ['trailing comma', '{"a": 1,}'],
    ['single quotes', "{'a': 1}"],
    ['leading zero', '[01]'],
    ['bare minus', '[-]'],
    ['raw control character', '["a\u0001"]'],
    ['bad escape', '["\\x41"]'],
    ['short unicode escape', '["\\u12"]'],
    ['unterminated string', '["abc'],
    ['duplicate key', '{"a": 1, "a": 2}'],
    ['trailing garbage', '{} x'],
    ['NaN', '[NaN]'],
    ['empty', ''],
  ])('refuses %s with a SyntaxError', (_, text) => {
    expect(() => parseJsonDocument(text)).toThrow(SyntaxError);
  });

  test('refuses deep nesting with a SyntaxError instead of overflowing the stack', () => {
    expect(() => parseJsonDocument('['.repeat(100_000) + ']'.repeat(100_000))).toThrow(SyntaxError);
    expect(() => parseJsonDocument('['.repeat(60) + ']'.repeat(60))).not.toThrow();
  });
});

describe('formatPythonFloat', () => {
  // Expected strings are Python 3.11's repr() of the same doubles.
  test.each([
    [0.0, '0.0'],
    [-0.0, '-0.0'],
    [0.1, '0.1'],
    [1.0, '1.0'],
    [-2.5, '-2.5'],
    [100.0, '100.0'],
    [1e-5, '1e-05'],
    [0.0001, '0.0001'],
    [0.00012345, '0.00012345'],
    [1e16, '1e+16'],
    [1e15, '1000000000000000.0'],
    // biome-ignore lint/correctness/noPrecisionLoss: the literal rounds to the nearest double, as Python's float() does; that is the case under test
    [123456789012345678, '1.2345678901234568e+17'],
    [1e22, '1e+22'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [1 / 3, '0.3333333333333333'],
    [2 ** 53, '9007199254740992.0'],
    [3e-7, '3e-07'],
    [1.5e300, '1.5e+300'],
    [65504, '65504.0'],
    [1234567.125, '1234567.125'],
    [-1e-100, '-1e-100'],
  ])('%d → %s', (x, expected) => {
    expect(formatPythonFloat(x)).toBe(expected);
  });

  test('refuses non-finite values', () => {
    expect(() => formatPythonFloat(NaN)).toThrow(RangeError);
  });
});

describe('dumpsPythonJson', () => {
  // The object and both expected strings come from Python 3.11's json.dumps.
  const obj = {
    b: [1, 2.0, { z: null, a: true }],
    a: 'caf\u00e9 \u{1F600} "q" \\ \n\t\u0001\u007f',
    '\u00e9': {},
    Z: [],
    e: [[]],
    x: 1e-5,
    y: 16.0,
  };
  const isFloat = (p: string) => p === '/b/1' || p === '/y';

  test('indent=2, sort_keys=True', () => {
    const expected =
      '{\n  "Z": [],\n  "a": "caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\n\\t\\u0001\\u007f",\n  "b": [\n    1,\n    2.0,\n    {\n      "a": true,\n      "z": null\n    }\n  ],\n  "e": [\n    []\n  ],\n  "x": 1e-05,\n  "y": 16.0,\n  "\\u00e9": {}\n}';
    expect(dumpsPythonJson(obj, { indent: 2, sortKeys: true, isFloat })).toBe(expected);
  });

  test('default compact separators', () => {
    const expected = '{"b": [1, 2.0, {"z": null, "a": true}], "a": "caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\n\\t\\u0001\\u007f", "\\u00e9": {}, "Z": [], "e": [[]], "x": 1e-05, "y": 16.0}';
    expect(dumpsPythonJson(obj, { isFloat })).toBe(expected);
  });
});

test('compareCodePoints orders by code point (UTF-8 byte order), unlike UTF-16 comparison', () => {
  const astral = '\u{1F600}'; // surrogate pair D83D DE00
  const highBmp = '\uFF5E';
  expect(astral < highBmp).toBe(true); // JavaScript's UTF-16 order
  expect(compareCodePoints(astral, highBmp)).toBeGreaterThan(0); // code point order
  expect(compareCodePoints('a', 'ab')).toBeLessThan(0);
  expect(compareCodePoints('q_proj', 'k_proj')).toBeGreaterThan(0);
  expect(compareCodePoints('dash_Vh', 'dash_d')).toBeLessThan(0); // 'V' < 'd'
  expect(compareCodePoints('x', 'x')).toBe(0);
});

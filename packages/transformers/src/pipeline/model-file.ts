/**
 * Which ONNX file transformers.js loads for a dtype, and the name under which
 * the rewritten graph is served. The suffixes are transformers.js's
 * `DEFAULT_DTYPE_SUFFIX_MAPPING` (utils/dtypes.js, same in 3.x and 4.x);
 * `transformers-internals.test.ts` compares them with the installed copy.
 */
import { ConfigError } from '@tsd-peft/core';

/** dtype → file-name suffix (`model${suffix}.onnx`). */
export const DTYPE_SUFFIXES: Readonly<Record<string, string>> = Object.freeze({
  fp32: '',
  fp16: '_fp16',
  int8: '_int8',
  uint8: '_uint8',
  q8: '_quantized',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
});

/** The suffix of `dtype`; {@link ConfigError} naming the known ones otherwise. */
export function dtypeSuffix(dtype: string): string {
  const suffix = DTYPE_SUFFIXES[dtype];
  if (suffix === undefined) throw new ConfigError(`unknown dtype "${dtype}" (one of ${Object.keys(DTYPE_SUFFIXES).join(', ')})`, { field: 'dtype' });
  return suffix;
}

/** A `model_file_name` that no repo has, so the only place transformers.js finds it is the served copy. */
export function runtimeModelFileName(): string {
  const nonce = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, '0')).join('');
  return `model.tsd-runtime-lora-${nonce}`;
}

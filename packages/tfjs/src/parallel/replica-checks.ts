import type * as tf from '@tensorflow/tfjs-core';

/**
 * 32-bit FNV-1a over names and shapes, in order: replicas whose gradient
 * lists differ (a module missing, a variable not yet created) must not be
 * averaged element by element.
 */
export function structureSignature(entries: Iterable<[string, readonly number[]]>): number {
  let h = 0x811c9dc5;
  const mix = (text: string) => {
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  };
  for (const [name, shape] of entries) mix(`${name}[${shape.join(',')}];`);
  return h >>> 0;
}

/**
 * 32-bit FNV-1a over the float32 bits of every variable, in order: equal on
 * two replicas exactly when their parameters are bit-identical (up to
 * hash collisions, ~2⁻³² per comparison).
 */
export function variablesChecksum(variables: ReadonlyMap<string, tf.Variable>): number {
  let h = 0x811c9dc5;
  for (const v of variables.values()) {
    const data = v.dataSync() as Float32Array;
    const words = new Uint32Array(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < words.length; i++) {
      const w = words[i] as number;
      h = Math.imul(h ^ (w & 0xffff), 0x01000193);
      h = Math.imul(h ^ (w >>> 16), 0x01000193);
    }
  }
  return h >>> 0;
}

/** A WebAssembly text-format source, imported as its assembled bytes (tooling/scripts/wat.mjs). */
declare module '*.wat' {
  const bytes: Uint8Array<ArrayBuffer>;
  export default bytes;
}

/** The same source with every f32x4 multiply-add fused into relaxed SIMD's `f32x4.relaxed_madd` (tooling/scripts/wat.mjs). */
declare module '*.wat?relaxed-madd' {
  const bytes: Uint8Array<ArrayBuffer>;
  export default bytes;
}

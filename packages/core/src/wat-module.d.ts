/** A WebAssembly text-format source, imported as its assembled bytes (tooling/scripts/wat.mjs). */
declare module '*.wat' {
  const bytes: Uint8Array<ArrayBuffer>;
  export default bytes;
}

// @tsd-peft/transformers/internal: building blocks shared inside the tsd-peft
// repository (the bench's SentencePiece reader uses the protobuf wire reader).
// Not part of the public API: no semver promise, may change in any release.
export { concatBytes, readFields, readVarint, WireType } from './onnx/protobuf-wire.js';
export type { WireContext, WireField } from './onnx/protobuf-wire.js';

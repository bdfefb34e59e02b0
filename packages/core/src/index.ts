export {
  TsdError,
  SafetensorsError,
  OnnxError,
  ShapeError,
  ConfigError,
  FixtureMissingError,
  NonFiniteError,
} from './errors.js';
export type { TsdErrorCode, ErrorLocation } from './errors.js';
export { matrix, zeros, toFloat32, toFloat64, assertFinite, assertShape } from './matrix.js';
export type { Matrix, MatrixData } from './matrix.js';
export { matmul, transpose, frobeniusNorm, maxAbsDiff } from './matrix-ops.js';
export { Rng } from './random.js';
export type { RngState } from './random.js';

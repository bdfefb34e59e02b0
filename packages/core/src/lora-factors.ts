import { ConfigError, NonFiniteError, ShapeError } from './errors.js';
import type { Matrix } from './matrix.js';

/**
 * The two LoRA factors of one linear module, in PEFT's layout: the update is
 * ΔW = scaling · B · A with W, ΔW of shape [out, in].
 */
export interface LoraFactors {
  /** `lora_A.weight`, shape [r, in]. */
  readonly A: Matrix<Float32Array>;
  /** `lora_B.weight`, shape [out, r]. */
  readonly B: Matrix<Float32Array>;
  /** alpha / r (or alpha / √r for rsLoRA); multiplies B·A. */
  readonly scaling: number;
}

/** Something with a row and column count, e.g. a weight matrix or its shape. */
export interface MatrixShape {
  readonly rows: number;
  readonly cols: number;
}

/**
 * The LoRA scaling factor: alpha / r, or alpha / √r with rsLoRA (Kalajdzievski
 * 2023), exactly as PEFT's `LoraLayer.update_layer` sets `self.scaling`.
 */
export function loraScalingFor(r: number, alpha: number, useRslora = false): number {
  if (!Number.isInteger(r) || r < 1) {
    throw new ConfigError(`LoRA rank r must be a positive integer, got ${r}`);
  }
  if (!Number.isFinite(alpha)) {
    throw new ConfigError(`lora_alpha must be finite, got ${alpha}`);
  }
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** The rank r of a factor pair (rows of A). */
export function loraRank(factors: LoraFactors): number {
  return factors.A.rows;
}

/**
 * Checks that A is [r, in] and B is [out, r] with the same r ≥ 1, that the
 * buffers hold rows·cols elements, that `scaling` is finite, and — when a
 * weight (or its shape) is given — that out/in match it. Throws
 * {@link ShapeError} / {@link NonFiniteError} naming the module `name`.
 * Returns r.
 */
export function validateLoraFactors(factors: LoraFactors, W?: MatrixShape, name = 'lora'): number {
  const { A, B, scaling } = factors;
  checkBuffer(A, `${name}.lora_A.weight`);
  checkBuffer(B, `${name}.lora_B.weight`);
  if (A.rows !== B.cols) {
    throw new ShapeError(`rank mismatch: lora_A is [${A.rows}, ${A.cols}] but lora_B is [${B.rows}, ${B.cols}]`, {
      tensor: name,
      shape: [B.rows, B.cols, A.rows, A.cols],
    });
  }
  if (A.rows < 1) {
    throw new ShapeError('LoRA rank must be at least 1', { tensor: `${name}.lora_A.weight`, shape: [A.rows, A.cols] });
  }
  if (!Number.isFinite(scaling)) {
    throw new NonFiniteError(`LoRA scaling is ${scaling}`, { tensor: name });
  }
  if (W !== undefined) {
    if (B.rows !== W.rows) {
      throw new ShapeError(`lora_B has ${B.rows} rows but the weight has out = ${W.rows}`, {
        tensor: `${name}.lora_B.weight`,
        shape: [B.rows, B.cols],
      });
    }
    if (A.cols !== W.cols) {
      throw new ShapeError(`lora_A has ${A.cols} columns but the weight has in = ${W.cols}`, {
        tensor: `${name}.lora_A.weight`,
        shape: [A.rows, A.cols],
      });
    }
  }
  return A.rows;
}

function checkBuffer(m: Matrix, tensor: string): void {
  if (!Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.rows < 0 || m.cols < 0 || m.data.length !== m.rows * m.cols) {
    throw new ShapeError(`buffer holds ${m.data.length} elements, expected ${m.rows}×${m.cols}`, {
      tensor,
      shape: [m.rows, m.cols],
    });
  }
}
